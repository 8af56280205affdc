package message

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// torture is one RFC 4475 message with the outcome a proxy owes it (testdata/rfc4475).
type torture struct {
	tag, kind, outcome, note string
	raw                      []byte
}

func loadTorture(t testing.TB) []torture {
	t.Helper()
	dir := filepath.Join("testdata", "rfc4475")
	f, err := os.Open(filepath.Join(dir, "expected.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []torture
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		cols := strings.SplitN(sc.Text(), "\t", 4)
		if len(cols) < 3 {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(dir, cols[0]+".dat"))
		if err != nil {
			t.Fatal(err)
		}
		tt := torture{tag: cols[0], kind: cols[1], outcome: cols[2], raw: raw}
		if len(cols) == 4 {
			tt.note = cols[3]
		}
		out = append(out, tt)
	}
	if len(out) < 45 {
		t.Fatalf("only %d torture messages", len(out))
	}
	return out
}

// The parser's share of each RFC 4475 outcome: 400 and 505 are its refusals; forwarding,
// 416, 420 and 483 need a message it accepts (the proxy decides those); a response it cannot
// read is dropped (Status 0).
func TestParseRFC4475(t *testing.T) {
	for _, tc := range loadTorture(t) {
		t.Run(tc.tag, func(t *testing.T) {
			var m Msg
			err := Parse(&m, tc.raw, true, DefaultLimits)
			var perr *Error
			errors.As(err, &perr)
			switch tc.outcome {
			case "400", "505":
				if perr == nil || perr.Status != atoi(tc.outcome) {
					t.Fatalf("err = %v, want %s (%s)", err, tc.outcome, tc.note)
				}
				if !m.CanRespond() {
					t.Fatalf("refused with %s but the response cannot be built: Via %v From %v To %v Call-ID %v CSeq %v",
						tc.outcome, m.TopVia.Whole, m.From.Whole, m.To.Whole, m.CallID, m.CSeqMethod)
				}
			case "drop":
				if tc.tag == "bigcode" || tc.tag == "scalarlg" {
					if perr == nil || perr.Status != 0 {
						t.Fatalf("err = %v, want a drop (%s)", err, tc.note)
					}
					return
				}
				if err != nil {
					t.Fatalf("well-formed response refused: %v", err)
				}
			default:
				if err != nil {
					t.Fatalf("err = %v, want the message accepted for the proxy to decide %s (%s)", err, tc.outcome, tc.note)
				}
			}
		})
	}
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}
