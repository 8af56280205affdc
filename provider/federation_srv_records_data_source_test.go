package provider

import (
	"os"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/proxy/routing"
	"github.com/sipfed/terraform-provider-sip/proxy/server/servertest"
)

func TestSRVRecordsFor(t *testing.T) {
	none := federationSRVRecordsModel{Priority: types.Int64Null(), Weight: types.Int64Null(), Port: types.Int64Null(),
		FederationRoutingFQDN: types.StringNull(), LocalDomains: types.ListNull(types.StringType)}
	node := api.Node{
		NodeFQDN: "imp1.example.com", FederationRoutingFQDN: "sipfed.example.com",
		LocalDomains: []string{"example.com", "another.example"}, ExternalPort: 5062,
	}
	got, _ := srvRecordsFor(none, node)
	want := []federationSRVRecordModel{
		{Domain: types.StringValue("another.example"), Name: types.StringValue("_sipfederationtls._tcp.another.example"),
			Priority: types.Int64Value(100), Weight: types.Int64Value(1), Port: types.Int64Value(5062), Target: types.StringValue("sipfed.example.com")},
		{Domain: types.StringValue("example.com"), Name: types.StringValue("_sipfederationtls._tcp.example.com"),
			Priority: types.Int64Value(100), Weight: types.Int64Value(1), Port: types.Int64Value(5062), Target: types.StringValue("sipfed.example.com")},
	}
	if len(got.Records) != len(want) {
		t.Fatalf("got %d records, want %d", len(got.Records), len(want))
	}
	for i := range want {
		if got.Records[i] != want[i] {
			t.Errorf("record %d: got %+v, want %+v", i, got.Records[i], want[i])
		}
	}

	node.ExternalPort = 0
	if got, _ := srvRecordsFor(none, node); got.Records[0].Port.ValueInt64() != 5061 {
		t.Errorf("a proxy without external listener: port %v, want the reference's 5061", got.Records[0].Port)
	}
	set := federationSRVRecordsModel{Priority: types.Int64Value(0), Weight: types.Int64Value(50), Port: types.Int64Value(443),
		FederationRoutingFQDN: types.StringValue("public.example.com"),
		LocalDomains:          types.ListValueMust(types.StringType, []attr.Value{types.StringValue("b.example"), types.StringValue("a.example")})}
	got, _ = srvRecordsFor(set, node)
	r := got.Records[0]
	if r.Priority.ValueInt64() != 0 || r.Weight.ValueInt64() != 50 || r.Port.ValueInt64() != 443 {
		t.Errorf("configured priority/weight/port not used: %+v", r)
	}
	// The configuration's routing FQDN and domains win over the node's: known at plan time.
	if len(got.Records) != 2 || got.Records[0].Domain.ValueString() != "a.example" || r.Target.ValueString() != "public.example.com" {
		t.Errorf("configured routing FQDN and local domains not used: %+v", got.Records)
	}
}

func TestAccFederationSRVRecordsDataSource(t *testing.T) {
	p := servertest.Start(t)
	record := func(target string, port int64) knownvalue.Check {
		return knownvalue.ListExact([]knownvalue.Check{knownvalue.ObjectExact(map[string]knownvalue.Check{
			"domain":   knownvalue.StringExact("example.com"),
			"name":     knownvalue.StringExact("_sipfederationtls._tcp.example.com"),
			"priority": knownvalue.Int64Exact(100),
			"weight":   knownvalue.Int64Exact(1),
			"port":     knownvalue.Int64Exact(port),
			"target":   knownvalue.StringExact(target),
		})})
	}
	const ds = "data.sip_federation_srv_records.publish"
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		CheckDestroy:             expectRoutingFQDN(p, testNodeFQDN),
		Steps: []resource.TestStep{
			// Before any routing FQDN is set, the records point at the node itself.
			{
				Config: providerConfig(p) + `data "sip_federation_srv_records" "publish" {}`,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(ds, tfjsonpath.New("node_fqdn"), knownvalue.StringExact(testNodeFQDN)),
					statecheck.ExpectKnownValue(ds, tfjsonpath.New("federation_routing_fqdn"), knownvalue.StringExact(testNodeFQDN)),
					statecheck.ExpectKnownValue(ds, tfjsonpath.New("local_domains"), knownvalue.ListExact([]knownvalue.Check{knownvalue.StringExact("example.com")})),
					statecheck.ExpectKnownValue(ds, tfjsonpath.New("records"), record(testNodeFQDN, 5061)),
				},
			},
			// With the routing FQDN managed, the records follow it.
			{
				Config: providerConfig(p) + `
resource "sip_federation_routing_fqdn" "this" {
  fqdn = "sipfed.example.com"
}

data "sip_federation_srv_records" "publish" {
  port       = 443
  depends_on = [sip_federation_routing_fqdn.this]
}
`,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(ds, tfjsonpath.New("federation_routing_fqdn"), knownvalue.StringExact("sipfed.example.com")),
					statecheck.ExpectKnownValue(ds, tfjsonpath.New("records"), record("sipfed.example.com", 443)),
				},
			},
			{
				Config:      providerConfig(p) + "data \"sip_federation_srv_records\" \"x\" {\n  port = 70000\n}\n",
				ExpectError: errorRe(`port: 70000 is out of range: a port is 1 to 65535`),
			},
			{
				Config:      providerConfig(p) + "data \"sip_federation_srv_records\" \"x\" {\n  local_domains = [\"Example.com\"]\n}\n",
				ExpectError: errorRe(`local_domains[0]: "Example.com" is not in the form sipfed stores: write "example.com"`),
			},
			{
				Config:      providerConfig(p) + "data \"sip_federation_srv_records\" \"x\" {\n  federation_routing_fqdn = \"sipfed..example.com\"\n}\n",
				ExpectError: errorRe(`federation_routing_fqdn: "sipfed..example.com": empty label`),
			},
			{
				Config: providerConfig(p) + `data "sip_federation_srv_records" "publish" {}`,
			},
		},
	})
}

// The documented example, verbatim: on a fresh proxy, one apply publishes one record per local
// domain through a for_each over the records, with no depends_on and no second apply.
func TestAccFederationSRVRecordsDataSource_documentedExample(t *testing.T) {
	example, err := os.ReadFile("../examples/data-sources/sip_federation_srv_records/data-source.tf")
	if err != nil {
		t.Fatal(err)
	}
	p := servertest.Start(t, servertest.WithRouting(routing.Options{NodeFQDN: testNodeFQDN, LocalDomains: []string{"example.com", "example.org"}}))
	record := func(domain string) string {
		return "_sipfederationtls._tcp." + domain + ". 3600 IN SRV 100 1 5061 sipfed.example.com."
	}
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		ExternalProviders:        map[string]resource.ExternalProvider{}, // terraform_data is built in
		Steps: []resource.TestStep{
			{
				Config: providerConfig(p) + string(example),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{
						// Known at plan time: the records' for_each keys and values are in the plan.
						plancheck.ExpectKnownValue(`terraform_data.sipfederationtls["example.com"]`, tfjsonpath.New("input"), knownvalue.StringExact(record("example.com"))),
						plancheck.ExpectKnownValue(`terraform_data.sipfederationtls["example.org"]`, tfjsonpath.New("input"), knownvalue.StringExact(record("example.org"))),
					},
					PostApplyPostRefresh: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()},
				},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownOutputValue("srv_records", knownvalue.ListExact([]knownvalue.Check{
						knownvalue.StringExact(record("example.com")), knownvalue.StringExact(record("example.org")),
					})),
				},
			},
			forEachStateEnd(p),
		},
	})
}
