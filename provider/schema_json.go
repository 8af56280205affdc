package provider

import (
	"context"
	"encoding/json"
	"fmt"

	tfjson "github.com/hashicorp/terraform-json"
	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
	"github.com/zclconf/go-cty/cty"
)

// ProvidersSchemaJSON is what `terraform providers schema -json` prints for this provider, built
// in-process. The docs are generated from it (tfplugindocs --providers-schema), so they do not
// depend on the Terraform CLI at hand: Terraform before 1.8 leaves provider functions out of its
// output, and the Terraform that make installs when none is on PATH is 1.5.
func ProvidersSchemaJSON(ctx context.Context) ([]byte, error) {
	server := providerserver.NewProtocol6(New("docs")())()
	resp, err := server.GetProviderSchema(ctx, &tfprotov6.GetProviderSchemaRequest{})
	if err != nil {
		return nil, err
	}
	for _, d := range resp.Diagnostics {
		if d.Severity == tfprotov6.DiagnosticSeverityError {
			return nil, fmt.Errorf("provider schema: %s: %s", d.Summary, d.Detail)
		}
	}
	ps := &tfjson.ProviderSchema{
		ResourceSchemas:   map[string]*tfjson.Schema{},
		DataSourceSchemas: map[string]*tfjson.Schema{},
		Functions:         map[string]*tfjson.FunctionSignature{},
	}
	if ps.ConfigSchema, err = convertSchema(resp.Provider); err != nil {
		return nil, fmt.Errorf("provider: %w", err)
	}
	for name, s := range resp.ResourceSchemas {
		if ps.ResourceSchemas[name], err = convertSchema(s); err != nil {
			return nil, fmt.Errorf("resource %s: %w", name, err)
		}
	}
	for name, s := range resp.DataSourceSchemas {
		if ps.DataSourceSchemas[name], err = convertSchema(s); err != nil {
			return nil, fmt.Errorf("data source %s: %w", name, err)
		}
	}
	for name, f := range resp.Functions {
		if ps.Functions[name], err = convertFunction(f); err != nil {
			return nil, fmt.Errorf("function %s: %w", name, err)
		}
	}
	return json.MarshalIndent(&tfjson.ProviderSchemas{
		FormatVersion: "1.0",
		// tfplugindocs looks the schema up by the provider's short name.
		Schemas: map[string]*tfjson.ProviderSchema{"sip": ps},
	}, "", "  ")
}

func convertSchema(s *tfprotov6.Schema) (*tfjson.Schema, error) {
	if s == nil {
		return nil, nil
	}
	b, err := convertBlock(s.Block)
	if err != nil {
		return nil, err
	}
	return &tfjson.Schema{Version: uint64(s.Version), Block: b}, nil //nolint:gosec // schema versions are small
}

func convertBlock(b *tfprotov6.SchemaBlock) (*tfjson.SchemaBlock, error) {
	out := &tfjson.SchemaBlock{
		Attributes:      map[string]*tfjson.SchemaAttribute{},
		NestedBlocks:    map[string]*tfjson.SchemaBlockType{},
		Description:     b.Description,
		DescriptionKind: descriptionKind(b.DescriptionKind),
		Deprecated:      b.Deprecated,
	}
	for _, a := range b.Attributes {
		ca, err := convertAttribute(a)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", a.Name, err)
		}
		out.Attributes[a.Name] = ca
	}
	for _, nb := range b.BlockTypes {
		inner, err := convertBlock(nb.Block)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", nb.TypeName, err)
		}
		out.NestedBlocks[nb.TypeName] = &tfjson.SchemaBlockType{
			NestingMode: blockNesting(nb.Nesting),
			Block:       inner,
			MinItems:    uint64(nb.MinItems), //nolint:gosec // never negative
			MaxItems:    uint64(nb.MaxItems), //nolint:gosec // never negative
		}
	}
	return out, nil
}

func convertAttribute(a *tfprotov6.SchemaAttribute) (*tfjson.SchemaAttribute, error) {
	out := &tfjson.SchemaAttribute{
		Description:     a.Description,
		DescriptionKind: descriptionKind(a.DescriptionKind),
		Deprecated:      a.Deprecated,
		Required:        a.Required,
		Optional:        a.Optional,
		Computed:        a.Computed,
		Sensitive:       a.Sensitive,
		WriteOnly:       a.WriteOnly,
	}
	if a.NestedType != nil {
		nt := &tfjson.SchemaNestedAttributeType{
			Attributes:  map[string]*tfjson.SchemaAttribute{},
			NestingMode: objectNesting(a.NestedType.Nesting),
		}
		for _, na := range a.NestedType.Attributes {
			c, err := convertAttribute(na)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", na.Name, err)
			}
			nt.Attributes[na.Name] = c
		}
		out.AttributeNestedType = nt
		return out, nil
	}
	t, err := ctyType(a.Type)
	if err != nil {
		return nil, err
	}
	out.AttributeType = t
	return out, nil
}

func convertFunction(f *tfprotov6.Function) (*tfjson.FunctionSignature, error) {
	ret, err := ctyType(f.Return.Type)
	if err != nil {
		return nil, err
	}
	out := &tfjson.FunctionSignature{
		Description:        f.Description,
		Summary:            f.Summary,
		DeprecationMessage: f.DeprecationMessage,
		ReturnType:         ret,
	}
	param := func(p *tfprotov6.FunctionParameter) (*tfjson.FunctionParameter, error) {
		t, err := ctyType(p.Type)
		if err != nil {
			return nil, fmt.Errorf("parameter %s: %w", p.Name, err)
		}
		return &tfjson.FunctionParameter{Name: p.Name, Description: p.Description, IsNullable: p.AllowNullValue, Type: t}, nil
	}
	for _, p := range f.Parameters {
		cp, err := param(p)
		if err != nil {
			return nil, err
		}
		out.Parameters = append(out.Parameters, cp)
	}
	if f.VariadicParameter != nil {
		if out.VariadicParameter, err = param(f.VariadicParameter); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ctyType translates a wire type into Terraform's type system, which tfjson speaks.
func ctyType(t tftypes.Type) (cty.Type, error) {
	switch {
	case t.Is(tftypes.String):
		return cty.String, nil
	case t.Is(tftypes.Number):
		return cty.Number, nil
	case t.Is(tftypes.Bool):
		return cty.Bool, nil
	case t.Is(tftypes.DynamicPseudoType):
		return cty.DynamicPseudoType, nil
	}
	switch tt := t.(type) {
	case tftypes.List:
		e, err := ctyType(tt.ElementType)
		return cty.List(e), err
	case tftypes.Set:
		e, err := ctyType(tt.ElementType)
		return cty.Set(e), err
	case tftypes.Map:
		e, err := ctyType(tt.ElementType)
		return cty.Map(e), err
	case tftypes.Tuple:
		elems := make([]cty.Type, len(tt.ElementTypes))
		for i, et := range tt.ElementTypes {
			var err error
			if elems[i], err = ctyType(et); err != nil {
				return cty.NilType, err
			}
		}
		return cty.Tuple(elems), nil
	case tftypes.Object:
		attrs := make(map[string]cty.Type, len(tt.AttributeTypes))
		var optional []string
		for name, at := range tt.AttributeTypes {
			var err error
			if attrs[name], err = ctyType(at); err != nil {
				return cty.NilType, err
			}
			if _, ok := tt.OptionalAttributes[name]; ok {
				optional = append(optional, name)
			}
		}
		if len(optional) > 0 {
			return cty.ObjectWithOptionalAttrs(attrs, optional), nil
		}
		return cty.Object(attrs), nil
	}
	return cty.NilType, fmt.Errorf("unsupported type %s", t)
}

func descriptionKind(k tfprotov6.StringKind) tfjson.SchemaDescriptionKind {
	if k == tfprotov6.StringKindMarkdown {
		return tfjson.SchemaDescriptionKindMarkdown
	}
	return tfjson.SchemaDescriptionKindPlain
}

func objectNesting(n tfprotov6.SchemaObjectNestingMode) tfjson.SchemaNestingMode {
	switch n {
	case tfprotov6.SchemaObjectNestingModeList:
		return tfjson.SchemaNestingModeList
	case tfprotov6.SchemaObjectNestingModeSet:
		return tfjson.SchemaNestingModeSet
	case tfprotov6.SchemaObjectNestingModeMap:
		return tfjson.SchemaNestingModeMap
	}
	return tfjson.SchemaNestingModeSingle
}

func blockNesting(n tfprotov6.SchemaNestedBlockNestingMode) tfjson.SchemaNestingMode {
	switch n {
	case tfprotov6.SchemaNestedBlockNestingModeList:
		return tfjson.SchemaNestingModeList
	case tfprotov6.SchemaNestedBlockNestingModeSet:
		return tfjson.SchemaNestingModeSet
	case tfprotov6.SchemaNestedBlockNestingModeMap:
		return tfjson.SchemaNestingModeMap
	case tfprotov6.SchemaNestedBlockNestingModeGroup:
		return tfjson.SchemaNestingModeGroup
	}
	return tfjson.SchemaNestingModeSingle
}
