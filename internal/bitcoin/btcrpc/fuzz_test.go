package btcrpc

import (
	"errors"
	"testing"
)

func TestParseNotification(t *testing.T) {
	tests := []struct {
		name string
		msg  string
		want Notification
		ok   bool
	}{
		{"blockconnected", `{"jsonrpc":"1.0","method":"blockconnected","params":["` + hashA + `",101,1700000000],"id":null}`,
			Notification{Kind: BlockConnected, Hash: hashA, Height: 101}, true},
		{"blockdisconnected", `{"method":"blockdisconnected","params":["` + hashA + `",7,1]}`,
			Notification{Kind: BlockDisconnected, Hash: hashA, Height: 7}, true},
		{"txaccepted", `{"method":"txaccepted","params":["` + hashA + `",0.5]}`,
			Notification{Kind: TxAccepted, TxID: hashA}, true},
		{"filtered variant ignored", `{"method":"filteredblockconnected","params":[101,"00",[]]}`, Notification{}, false},
		{"reply ignored", `{"result":null,"error":null,"id":1}`, Notification{}, false},
		{"short hash", `{"method":"blockconnected","params":["abcd",1,1]}`, Notification{}, false},
		{"height as string", `{"method":"blockconnected","params":["` + hashA + `","1",1]}`, Notification{}, false},
		{"negative height", `{"method":"blockconnected","params":["` + hashA + `",-1,1]}`, Notification{}, false},
		{"missing params", `{"method":"txaccepted"}`, Notification{}, false},
		{"not JSON", `blockconnected`, Notification{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseNotification([]byte(tc.msg))
			if ok != tc.ok || got != tc.want {
				t.Errorf("parseNotification = %+v, %v; want %+v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

// FuzzParseNotification checks that any websocket message either yields a
// well-formed notification or is ignored, without panicking.
func FuzzParseNotification(f *testing.F) {
	f.Add([]byte(`{"method":"blockconnected","params":["` + hashA + `",101,1]}`))
	f.Add([]byte(`{"method":"txaccepted","params":["` + hashA + `",0.1]}`))
	f.Add([]byte(`{"method":"blockdisconnected","params":[null,null]}`))
	f.Fuzz(func(t *testing.T, msg []byte) {
		n, ok := parseNotification(msg)
		if !ok {
			return
		}
		switch n.Kind {
		case BlockConnected, BlockDisconnected:
			if !isHash(n.Hash) || n.Height < 0 {
				t.Fatalf("bad block notification %+v", n)
			}
		case TxAccepted:
			if !isHash(n.TxID) {
				t.Fatalf("bad tx notification %+v", n)
			}
		default:
			t.Fatalf("unknown kind %v", n.Kind)
		}
	})
}

// FuzzDecodeResponse checks that any HTTP body yields a result or one of
// the three typed errors, never a panic or an untyped error.
func FuzzDecodeResponse(f *testing.F) {
	f.Add(200, []byte(`{"result":5,"error":null,"id":1}`))
	f.Add(500, []byte(`{"result":null,"error":{"code":-5,"message":"x"},"id":1}`))
	f.Add(200, []byte(`{"result":"abc","error":null,"id":1}`))
	f.Add(401, []byte(``))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		var out int64
		err := decodeResponse("m", 1, status, body, &out)
		if err == nil {
			return
		}
		var (
			re *RPCError
			te *TransportError
			pe *ResponseError
		)
		if !errors.As(err, &re) && !errors.As(err, &te) && !errors.As(err, &pe) {
			t.Fatalf("untyped error %T: %v", err, err)
		}
	})
}

// FuzzBTCToSat checks the fee-rate conversion never panics or hangs and
// stays within the money range.
func FuzzBTCToSat(f *testing.F) {
	for _, s := range []string{"0.00012345", "1e-05", "21000000", "1e30", "-1", "0.000000001"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sat, err := btcToSat(s)
		if err == nil && sat > 21_000_000*100_000_000 {
			t.Fatalf("btcToSat(%q) = %d beyond the supply", s, sat)
		}
	})
}
