package provider

import (
	"context"
	"sort"
	"strings"
	"testing"

	tfjson "github.com/hashicorp/terraform-json"
)

func providerSchemas(t *testing.T) *tfjson.ProviderSchema {
	t.Helper()
	b, err := ProvidersSchemaJSON(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var s tfjson.ProviderSchemas
	// UnmarshalJSON validates the format version, as tfplugindocs does when it reads the file.
	if err := s.UnmarshalJSON(b); err != nil {
		t.Fatalf("tfplugindocs could not read the schema: %v", err)
	}
	ps, ok := s.Schemas["sip"]
	if !ok {
		t.Fatal(`no schema under "sip", the name tfplugindocs looks up`)
	}
	return ps
}

func TestProvidersSchemaJSON(t *testing.T) {
	ps := providerSchemas(t)
	keys := func(m any) string {
		var ks []string
		switch m := m.(type) {
		case map[string]*tfjson.Schema:
			for k := range m {
				ks = append(ks, k)
			}
		case map[string]*tfjson.FunctionSignature:
			for k := range m {
				ks = append(ks, k)
			}
		}
		sort.Strings(ks)
		return strings.Join(ks, " ")
	}
	if got, want := keys(ps.ResourceSchemas), "sip_federated_domain sip_federation_routing_fqdn sip_federation_service sip_static_route sip_tls_peer_subject"; got != want {
		t.Errorf("resources: %s, want %s", got, want)
	}
	if got, want := keys(ps.DataSourceSchemas), "sip_federated_domain sip_federated_domains sip_federation_srv_records sip_incoming_acls sip_route sip_static_routes sip_tls_peer_subjects"; got != want {
		t.Errorf("data sources: %s, want %s", got, want)
	}
	if got, want := keys(ps.Functions), "destination_pattern federation_srv_name"; got != want {
		t.Errorf("functions: %s, want %s", got, want)
	}
	if !ps.ConfigSchema.Block.Attributes["token"].Sensitive {
		t.Error("the provider's token must be sensitive")
	}
	route := ps.ResourceSchemas["sip_static_route"].Block.Attributes
	if !route["id"].Computed || route["id"].Optional || !route["next_hop_port"].Optional || !route["next_hop_port"].Computed || !route["next_hop"].Required {
		t.Errorf("sip_static_route attribute modes are wrong: id %+v, next_hop_port %+v, next_hop %+v", route["id"], route["next_hop_port"], route["next_hop"])
	}
	steps := ps.DataSourceSchemas["sip_route"].Block.Attributes["steps"]
	if steps.AttributeNestedType == nil || steps.AttributeNestedType.NestingMode != tfjson.SchemaNestingModeList ||
		steps.AttributeNestedType.Attributes["srv_records"].AttributeNestedType == nil {
		t.Errorf("sip_route steps must be a list of nested objects with nested srv_records, got %+v", steps)
	}
}

// TestEveryAttributeHasADescription: the docs and the language server show nothing else.
func TestEveryAttributeHasADescription(t *testing.T) {
	ps := providerSchemas(t)
	var walk func(where string, attrs map[string]*tfjson.SchemaAttribute)
	walk = func(where string, attrs map[string]*tfjson.SchemaAttribute) {
		for name, a := range attrs {
			if strings.TrimSpace(a.Description) == "" {
				t.Errorf("%s.%s has no description", where, name)
			}
			if a.AttributeNestedType != nil {
				walk(where+"."+name, a.AttributeNestedType.Attributes)
			}
		}
	}
	check := func(kind string, schemas map[string]*tfjson.Schema) {
		for name, s := range schemas {
			if strings.TrimSpace(s.Block.Description) == "" {
				t.Errorf("%s %s has no description", kind, name)
			}
			walk(kind+" "+name, s.Block.Attributes)
			if len(s.Block.NestedBlocks) > 0 {
				t.Errorf("%s %s has blocks; the provider uses nested attributes only", kind, name)
			}
		}
	}
	check("provider", map[string]*tfjson.Schema{"sip": ps.ConfigSchema})
	check("resource", ps.ResourceSchemas)
	check("data source", ps.DataSourceSchemas)
	for name, f := range ps.Functions {
		if f.Summary == "" || f.Description == "" {
			t.Errorf("function %s has no summary or description", name)
		}
		for _, p := range f.Parameters {
			if p.Description == "" {
				t.Errorf("function %s parameter %s has no description", name, p.Name)
			}
		}
	}
}
