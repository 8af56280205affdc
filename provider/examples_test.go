package provider

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/go-version"
)

// Every example the docs show is a configuration `terraform validate` accepts, with this provider's
// schemas: each directory of examples/ (a resource's example with its import blocks, a data
// source's, a guide's, the federation example, the module), on the Terraform at hand. A directory
// whose required_version the Terraform at hand does not meet is skipped, saying so.
func TestAccExamplesValidate(t *testing.T) {
	if os.Getenv("TF_ACC") == "" {
		t.Skip("runs the Terraform CLI; set TF_ACC=1")
	}
	tf, err := exec.LookPath("terraform")
	if err != nil {
		t.Fatal("terraform is not on PATH")
	}
	have := terraformVersion(t, tf)

	// The provider binary, found through dev_overrides as in development.
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(bin, "terraform-provider-sip"), "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the provider: %v\n%s", err, out)
	}
	rc := filepath.Join(t.TempDir(), "terraformrc")
	if err := os.WriteFile(rc, []byte(fmt.Sprintf("provider_installation {\n  dev_overrides {\n    \"registry.terraform.io/sipfed/sip\" = %q\n  }\n  direct {}\n}\n", bin)), 0o600); err != nil {
		t.Fatal(err)
	}

	// A copy of examples/, so that relative module sources resolve and nothing is written into the tree.
	root := filepath.Join(t.TempDir(), "examples")
	if err := os.CopyFS(root, os.DirFS("../examples")); err != nil {
		t.Fatal(err)
	}
	var dirs []string
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		if tfFiles, _ := filepath.Glob(filepath.Join(p, "*.tf")); len(tfFiles) > 0 {
			dirs = append(dirs, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) < 20 {
		t.Fatalf("found %d example directories; the walk is broken", len(dirs))
	}
	requiredVersion := regexp.MustCompile(`required_version\s*=\s*">=\s*([0-9.]+)"`)
	for _, dir := range dirs {
		rel, _ := filepath.Rel(root, dir)
		t.Run(rel, func(t *testing.T) {
			var all []byte
			files, _ := filepath.Glob(filepath.Join(dir, "*.tf"))
			for _, f := range files {
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				all = append(all, b...)
			}
			if m := requiredVersion.FindSubmatch(all); m != nil {
				need := version.Must(version.NewVersion(string(m[1])))
				if have.LessThan(need) {
					t.Skipf("needs Terraform %s; this is %s", need, have)
				}
			}
			// Resource and data source examples are fragments: they name the provider's source
			// nowhere, and Terraform would look for hashicorp/sip.
			if !bytes.Contains(all, []byte("required_providers")) {
				v := "terraform {\n  required_providers {\n    sip = { source = \"sipfed/sip\" }\n  }\n}\n"
				if err := os.WriteFile(filepath.Join(dir, "zz_required_providers.tf"), []byte(v), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			run := func(args ...string) {
				t.Helper()
				cmd := exec.Command(tf, args...)
				cmd.Dir = dir
				cmd.Env = append(os.Environ(), "TF_CLI_CONFIG_FILE="+rc, "TF_IN_AUTOMATION=1", "CHECKPOINT_DISABLE=1")
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("terraform %s in examples/%s: %v\n%s", strings.Join(args, " "), rel, err, out)
				}
			}
			// With dev_overrides, init would look the provider up in the registry; get installs
			// only the (local) modules, and validate needs nothing more.
			run("get", "-no-color")
			run("validate", "-no-color")
		})
	}
}

func terraformVersion(t *testing.T, tf string) *version.Version {
	t.Helper()
	out, err := exec.Command(tf, "version", "-json").Output()
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Version string `json:"terraform_version"`
	}
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatal(err)
	}
	return version.Must(version.NewVersion(v.Version))
}
