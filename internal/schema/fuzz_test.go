package schema

import "testing"

// FuzzDecode: any bytes decode or fail with ErrBody, never panic, and a
// decoded set checks any key without panicking.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(chatBody), []byte("chat/msg/general/1-aut_ada"), []byte(`{"text":"hi"}`))
	f.Add([]byte(`{"rules":[{"key":"a/{x}-{y}-z","write":"anyone","value":{"type":"integer"}}]}`), []byte("a/1-2-z"), []byte("12"))
	f.Add([]byte(`{"prefix":"p/","rules":[]}`), []byte("p/q"), []byte(""))
	f.Add([]byte(`{"rules":[{"key":"a/{b}","write":"admin","value":{"pattern":"^(a+)+$"}}]}`), []byte("a/b"), []byte(`"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!"`))
	f.Add([]byte(`{}`), []byte(""), []byte(""))
	f.Add([]byte(`{"prefix":"b/","rules":[{"key":"b/poll/{ms}-{author}","write":"named","once":true}]}`), []byte("b/poll/1-aut_x"), []byte(`{}`))
	f.Add([]byte(`{"rules":[{"key":"a/{b}","write":"anyone","once":false,"value":{"type":"object"}}]}`), []byte("a/b"), []byte(`{}`))
	f.Add([]byte(`{"rules":[{"key":"a/{b}","write":"anyone","once":1}]}`), []byte("a/b"), []byte(``))
	f.Fuzz(func(t *testing.T, body, key, value []byte) {
		s, err := Decode(body)
		if err != nil {
			return
		}
		s.Covers(key)
		s.Once(key)
		sg := signer("aut_x", "idt_x")
		sg.Written = func(k []byte) bool { return len(k)%2 == 0 }
		for _, op := range []Op{Put, Del, PutBlob} {
			s.Check(key, op, value, signer("aut_x", "idt_x"))
			s.Check(key, op, value, sg)
		}
	})
}
