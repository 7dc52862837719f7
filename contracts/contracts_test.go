package contracts

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

func TestParseArtifact(t *testing.T) {
	for _, tc := range []struct {
		name, json, wantErr string
	}{
		{"valid", `{"contractName":"C","compiler":"solc","abi":[],"bytecode":"0x6001","deployedBytecode":"0x"}`, ""},
		{"not json", `{`, "artifact"},
		{"no name", `{"abi":[],"bytecode":"0x6001","deployedBytecode":"0x"}`, "required"},
		{"no abi", `{"contractName":"C","bytecode":"0x6001","deployedBytecode":"0x"}`, "required"},
		{"no 0x", `{"contractName":"C","abi":[],"bytecode":"6001","deployedBytecode":"0x"}`, "0x-prefixed"},
		{"odd hex", `{"contractName":"C","abi":[],"bytecode":"0x601","deployedBytecode":"0x"}`, "bytecode"},
		{"empty bytecode", `{"contractName":"C","abi":[],"bytecode":"0x","deployedBytecode":"0x"}`, "empty bytecode"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := ParseArtifact([]byte(tc.json))
			if tc.wantErr == "" {
				if err != nil || a.Name != "C" || !bytes.Equal(a.Bytecode, []byte{0x60, 0x01}) {
					t.Fatalf("got %+v, %v", a, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

// TestCommittedArtifactsAreConsistent: the factory's creation code embeds
// the Forwarder's, since its constructor creates one.
func TestCommittedArtifactsAreConsistent(t *testing.T) {
	if !bytes.Contains(ForwarderFactory.Bytecode, Forwarder.Bytecode) {
		t.Fatal("the factory's bytecode does not contain the Forwarder's creation code")
	}
	src, err := os.ReadFile("build.sh")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []Artifact{Forwarder, ForwarderFactory} {
		if !strings.HasPrefix(a.Compiler, "solc 0.8.30+") || !strings.Contains(string(src), "SOLC_VERSION=0.8.30") {
			t.Errorf("%s compiled by %q; build.sh pins another solc", a.Name, a.Compiler)
		}
	}
}

func FuzzParseArtifact(f *testing.F) {
	good, err := out.ReadFile("out/Forwarder.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`{"contractName":"C","abi":[],"bytecode":"0x6001","deployedBytecode":"0x"}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := ParseArtifact(data)
		if err == nil && (a.Name == "" || a.ABI == "" || len(a.Bytecode) == 0) {
			t.Fatalf("accepted an incomplete artifact: %+v", a)
		}
	})
}
