package telemetry_test

import (
	"bytes"
	"encoding/json"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/printer"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const telemetryPath = "github.com/sipfed/terraform-provider-sip/proxy/telemetry"

// pending are packages whose owner converts them to the vocabulary in their own change: their
// log keys are reported, not failed. Remove a package from here when it is converted.
var pending = map[string]bool{
}

type listedPackage struct {
	ImportPath string
	Dir        string
	GoFiles    []string
	Export     string
	Standard   bool
	DepOnly    bool
}

// Issue 12: log keys drifted (`transport` here, `protocol` there; `subject` for two things).
// Every key that a proxy package gives log/slog (a Logger's methods, slog's functions, slog.Attr
// constructors) is a telemetry Key constant, named as such: not a string literal, not a variable.
// The proxy's packages are type-checked from source, so a key passed through any logger is seen,
// and a package added later is checked without a change here.
func TestEveryLogKeyIsATelemetryConstant(t *testing.T) {
	if testing.Short() {
		t.Skip("type-checks every proxy package")
	}
	pkgs := goList(t)
	exports := map[string]string{}
	for _, p := range pkgs {
		exports[p.ImportPath] = p.Export
	}
	fset := token.NewFileSet()
	imp := importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) {
		f, ok := exports[path]
		if !ok || f == "" {
			return nil, os.ErrNotExist
		}
		return os.Open(f)
	})
	checked := 0
	for _, p := range pkgs {
		if p.DepOnly || p.Standard || len(p.GoFiles) == 0 {
			continue
		}
		var files []*ast.File
		for _, name := range p.GoFiles {
			f, err := parser.ParseFile(fset, filepath.Join(p.Dir, name), nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, f)
		}
		info := &types.Info{Types: map[ast.Expr]types.TypeAndValue{}, Uses: map[*ast.Ident]types.Object{}}
		conf := types.Config{Importer: imp}
		if _, err := conf.Check(p.ImportPath, fset, files, info); err != nil {
			t.Fatalf("type-checking %s: %v", p.ImportPath, err)
		}
		checked++
		report := t.Errorf
		if pending[p.ImportPath] {
			report = t.Logf
		}
		for _, f := range files {
			for _, bad := range badKeys(fset, info, f) {
				report("%s: %s", p.ImportPath, bad)
			}
		}
	}
	if checked < 8 {
		t.Fatalf("checked %d packages; the walk missed the proxy", checked)
	}
}

func goList(t *testing.T) []listedPackage {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-export", "-json=ImportPath,Dir,GoFiles,Export,Standard,DepOnly", "../...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []listedPackage
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p listedPackage
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// slog's argument layouts: where the message ends and key-value pairs (or attributes) begin.
var (
	loggerMethods = map[string]int{ // method of *slog.Logger -> index of the first key-value argument
		"Debug": 1, "Info": 1, "Warn": 1, "Error": 1,
		"DebugContext": 2, "InfoContext": 2, "WarnContext": 2, "ErrorContext": 2,
		"Log": 3, "LogAttrs": 3, "With": 0,
	}
	slogFuncs = map[string]int{ // function of log/slog -> index of the first key-value argument
		"Debug": 1, "Info": 1, "Warn": 1, "Error": 1,
		"DebugContext": 2, "InfoContext": 2, "WarnContext": 2, "ErrorContext": 2,
		"Log": 3, "LogAttrs": 3, "With": 0,
	}
	attrFuncs = map[string]bool{ // functions of log/slog whose first argument is a key
		"String": true, "Int": true, "Int64": true, "Uint64": true, "Float64": true, "Bool": true,
		"Time": true, "Duration": true, "Any": true, "Group": true,
	}
)

// badKeys lists the log keys in f that are not telemetry Key constants.
func badKeys(fset *token.FileSet, info *types.Info, f *ast.File) []string {
	var bad []string
	isAttr := func(e ast.Expr) bool {
		tv, ok := info.Types[e]
		return ok && types.TypeString(tv.Type, nil) == "log/slog.Attr"
	}
	checkKey := func(e ast.Expr) {
		if !isTelemetryKey(info, e) {
			bad = append(bad, fset.Position(e.Pos()).String()+": log key "+exprString(fset, e)+" is not a telemetry Key constant")
		}
	}
	checkPairs := func(call *ast.CallExpr, from int) {
		if call.Ellipsis.IsValid() {
			last := call.Args[len(call.Args)-1]
			if tv, ok := info.Types[last]; ok && types.TypeString(tv.Type, nil) == "[]log/slog.Attr" {
				return // attributes, each made by a checked constructor
			}
			bad = append(bad, fset.Position(call.Pos()).String()+": key-value pairs passed as a slice cannot be checked; use []slog.Attr")
			return
		}
		for i := from; i < len(call.Args); i++ {
			if isAttr(call.Args[i]) {
				continue
			}
			checkKey(call.Args[i])
			i++ // its value
		}
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.CallExpr:
			sel, ok := n.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			obj := info.Uses[sel.Sel]
			fn, ok := obj.(*types.Func)
			if !ok || fn.Pkg() == nil || fn.Pkg().Path() != "log/slog" {
				return true
			}
			sig := fn.Type().(*types.Signature)
			if recv := sig.Recv(); recv != nil {
				if strings.HasSuffix(types.TypeString(recv.Type(), nil), "slog.Logger") {
					if from, ok := loggerMethods[fn.Name()]; ok {
						checkPairs(n, from)
					}
				}
				return true
			}
			if from, ok := slogFuncs[fn.Name()]; ok {
				checkPairs(n, from)
			} else if attrFuncs[fn.Name()] && len(n.Args) > 0 {
				checkKey(n.Args[0])
				if fn.Name() == "Group" {
					checkPairs(n, 1)
				}
			}
		case *ast.CompositeLit:
			if tv, ok := info.Types[n]; ok && types.TypeString(tv.Type, nil) == "log/slog.Attr" {
				for _, el := range n.Elts {
					if kv, ok := el.(*ast.KeyValueExpr); ok {
						if id, ok := kv.Key.(*ast.Ident); ok && id.Name == "Key" {
							checkKey(kv.Value)
						}
					}
				}
			}
		}
		return true
	})
	return bad
}

// isTelemetryKey reports whether e names a Key constant of package telemetry.
func isTelemetryKey(info *types.Info, e ast.Expr) bool {
	var id *ast.Ident
	switch e := e.(type) {
	case *ast.SelectorExpr:
		id = e.Sel
	case *ast.Ident:
		id = e
	default:
		return false
	}
	c, ok := info.Uses[id].(*types.Const)
	return ok && c.Pkg() != nil && c.Pkg().Path() == telemetryPath && strings.HasPrefix(c.Name(), "Key")
}

func exprString(fset *token.FileSet, e ast.Expr) string {
	var b strings.Builder
	_ = printer.Fprint(&b, fset, e)
	return b.String()
}
