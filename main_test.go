package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// A Registry release needs these files, and each must say what the Registry reads from it.

func TestReleaseManifest(t *testing.T) {
	var m struct {
		Version  int `json:"version"`
		Metadata struct {
			ProtocolVersions []string `json:"protocol_versions"`
		} `json:"metadata"`
	}
	b, err := os.ReadFile("terraform-registry-manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	// providerserver.NewProtocol6 in main.go: the manifest must say the same protocol.
	if m.Version != 1 || len(m.Metadata.ProtocolVersions) != 1 || m.Metadata.ProtocolVersions[0] != "6.0" {
		t.Fatalf("manifest %+v, want version 1 and protocol_versions [\"6.0\"]", m)
	}
}

func TestReleaseGoReleaser(t *testing.T) {
	b, err := os.ReadFile(".goreleaser.yml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(b)
	for _, want := range []string{
		"-X main.version={{ .Version }}",                 // the version the provider reports
		"binary: \"{{ .ProjectName }}_v{{ .Version }}\"", // the Registry's binary name
		"{{ .ProjectName }}_{{ .Version }}_SHA256SUMS",
		"artifacts: checksum", // SHA256SUMS is signed
		"--detach-sign",
		"{{ .ProjectName }}_{{ .Version }}_manifest.json",
		"formats: [zip]",
		"CGO_ENABLED=0",
	} {
		if !strings.Contains(cfg, want) {
			t.Errorf(".goreleaser.yml lacks %q", want)
		}
	}
	for _, platform := range []string{"linux", "darwin", "windows", "freebsd", "amd64", "arm64", "\"386\"", "arm"} {
		if !strings.Contains(cfg, "- "+platform+"\n") {
			t.Errorf(".goreleaser.yml does not build for %s", platform)
		}
	}
}

func TestReleaseLicenseAndChangelog(t *testing.T) {
	license, err := os.ReadFile("LICENSE")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(license, []byte("Mozilla Public License, version 2.0")) || !bytes.Contains(license, []byte("Exhibit B")) {
		t.Error("LICENSE is not the whole Mozilla Public License 2.0")
	}
	changelog, err := os.ReadFile("CHANGELOG.md")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^## \d+\.\d+\.\d+ `).Match(changelog) {
		t.Error("CHANGELOG.md has no version entry (## X.Y.Z ...)")
	}
}

// The linker ignores -X for a variable that does not exist: build with the release's flag and look
// for the version in the binary.
func TestReleaseVersionIsInjected(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the provider")
	}
	const v = "9.8.7-ldflags-test"
	bin := filepath.Join(t.TempDir(), "terraform-provider-sip")
	if out, err := exec.Command("go", "build", "-ldflags", "-X main.version="+v, "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(v)) {
		t.Fatalf("the binary built with -X main.version=%s does not hold that version", v)
	}
}
