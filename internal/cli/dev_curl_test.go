package cli

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// curlCmd is a printed curl command as an HTTP request.
type curlCmd struct {
	method  string
	url     string
	headers []string
	body    string
}

// parseCurl reads the curl commands the sandbox prints, the way a POSIX
// shell would split them: single quotes literal, double quotes with
// $NAME expansion from vars and \" escapes. It knows the options the
// banner uses (-s, -H, -d, -X) and refuses anything else, so a banner
// that changed shape fails the test instead of being half understood.
func parseCurl(line string, vars map[string]string) (curlCmd, error) {
	words, err := shellWords(line, vars)
	if err != nil {
		return curlCmd{}, err
	}
	if len(words) == 0 || words[0] != "curl" {
		return curlCmd{}, errors.New("not a curl command")
	}
	c := curlCmd{method: http.MethodGet}
	explicit := false
	for i := 1; i < len(words); i++ {
		w := words[i]
		arg := func() (string, error) {
			if i+1 >= len(words) {
				return "", fmt.Errorf("%s needs an argument", w)
			}
			i++
			return words[i], nil
		}
		switch {
		case w == "-s":
		case w == "-H" || w == "-d" || w == "-X":
			v, err := arg()
			if err != nil {
				return curlCmd{}, err
			}
			switch w {
			case "-H":
				if !strings.Contains(v, ":") {
					return curlCmd{}, fmt.Errorf("header %q has no colon", v)
				}
				c.headers = append(c.headers, v)
			case "-d":
				c.body = v
				if !explicit {
					c.method = http.MethodPost
				}
			case "-X":
				c.method, explicit = v, true
			}
		case strings.HasPrefix(w, "-"):
			return curlCmd{}, fmt.Errorf("unknown option %q", w)
		case c.url != "":
			return curlCmd{}, fmt.Errorf("second URL %q", w)
		case !strings.HasPrefix(w, "http://") && !strings.HasPrefix(w, "https://"):
			return curlCmd{}, fmt.Errorf("%q is not an http(s) URL", w)
		default:
			c.url = w
		}
	}
	if c.url == "" {
		return curlCmd{}, errors.New("no URL")
	}
	return c, nil
}

func shellWords(line string, vars map[string]string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(line); i++ {
		ch := line[i]
		switch {
		case ch == ' ' || ch == '\t':
			if inWord {
				words, inWord = append(words, cur.String()), false
				cur.Reset()
			}
		case ch == '\'':
			end := strings.IndexByte(line[i+1:], '\'')
			if end < 0 {
				return nil, errors.New("unterminated single quote")
			}
			cur.WriteString(line[i+1 : i+1+end])
			i, inWord = i+1+end, true
		case ch == '"':
			i++
			for ; i < len(line) && line[i] != '"'; i++ {
				switch {
				case line[i] == '\\' && i+1 < len(line) && strings.IndexByte(`"\$`, line[i+1]) >= 0:
					i++
					cur.WriteByte(line[i])
				case line[i] == '$':
					j := i + 1
					for j < len(line) && (line[j] == '_' || line[j] >= 'A' && line[j] <= 'Z' || line[j] >= 'a' && line[j] <= 'z' || line[j] >= '0' && line[j] <= '9') {
						j++
					}
					if j == i+1 {
						return nil, errors.New("lone $ in double quotes")
					}
					v, ok := vars[line[i+1:j]]
					if !ok {
						return nil, fmt.Errorf("unknown variable $%s", line[i+1:j])
					}
					cur.WriteString(v)
					i = j - 1
				default:
					cur.WriteByte(line[i])
				}
			}
			if i >= len(line) {
				return nil, errors.New("unterminated double quote")
			}
			inWord = true
		case ch == '\\' || ch == '$' || ch == '`' || ch == '|' || ch == ';' || ch == '&' || ch == '<' || ch == '>':
			return nil, fmt.Errorf("unquoted %q", ch)
		default:
			cur.WriteByte(ch)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

func TestParseCurl(t *testing.T) {
	vars := map[string]string{"CRYPTOPAY_API_KEY": "cp_test_abc"}
	cases := []struct {
		name, line string
		want       curlCmd
		wantErr    string
	}{
		{"create", `curl -s http://127.0.0.1:8080/v1/invoices -H "Authorization: Bearer $CRYPTOPAY_API_KEY" -d '{"a":"b c"}'`,
			curlCmd{method: "POST", url: "http://127.0.0.1:8080/v1/invoices", headers: []string{"Authorization: Bearer cp_test_abc"}, body: `{"a":"b c"}`}, ""},
		{"get with quoted url", `curl -s "http://h/v1/events?invoice=inv_1" -H "A: \"q\""`,
			curlCmd{method: "GET", url: "http://h/v1/events?invoice=inv_1", headers: []string{`A: "q"`}}, ""},
		{"explicit method", `curl -X DELETE http://h/x`, curlCmd{method: "DELETE", url: "http://h/x"}, ""},
		{"not curl", `wget http://h/`, curlCmd{}, "not a curl"},
		{"unknown option", `curl -k http://h/`, curlCmd{}, "unknown option"},
		{"unknown variable", `curl http://h/ -H "A: $NOPE"`, curlCmd{}, "unknown variable"},
		{"unterminated", `curl http://h/ -d '{`, curlCmd{}, "unterminated"},
		{"shell syntax", `curl http://h/ | sh`, curlCmd{}, "unquoted"},
		{"no url", `curl -s`, curlCmd{}, "no URL"},
		{"missing argument", `curl http://h/ -H`, curlCmd{}, "needs an argument"},
		{"header without colon", `curl http://h/ -H nocolon`, curlCmd{}, "no colon"},
		{"not http", `curl file:///etc/passwd`, curlCmd{}, "not an http"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseCurl(tc.line, vars)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func FuzzParseCurl(f *testing.F) {
	f.Add(`curl -s http://127.0.0.1:8080/v1/invoices -H "Authorization: Bearer $CRYPTOPAY_API_KEY" -d '{"order_id":"1"}'`)
	f.Add(`curl "http://h/\"x" -X GET`)
	f.Fuzz(func(t *testing.T, line string) {
		c, err := parseCurl(line, map[string]string{"CRYPTOPAY_API_KEY": "k"})
		if err != nil {
			return
		}
		if !strings.HasPrefix(c.url, "http") || c.method == "" {
			t.Fatalf("accepted %q as %+v", line, c)
		}
		for _, h := range c.headers {
			if !strings.Contains(h, ":") {
				t.Fatalf("header without colon %q", h)
			}
		}
	})
}
