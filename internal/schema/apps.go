package schema

// The rules of the apps Loam ships (docs/apps.md), as an admin declares
// them: commit.Schema{App: a.Name, Version: a.Version, Body: a.Body}.
// Their values are objects whose unknown fields are allowed, so that the
// layouts can grow without a new version; the prefixes are closed, so a
// key under them that is not one of the layouts is refused. A poll, a
// transfer and a confirmation are written once: signed entries others
// count on (votes, balances) are not rewritten under the same key.

// App is one app's rules.
type App struct {
	Name    string
	Version uint64
	Body    []byte
}

// Apps are the rules of the chat, the tool library, profiles, the
// community board and the energy exchange.
var Apps = []App{
	{Name: "chat", Version: 1, Body: []byte(`{"prefix":"chat/","rules":[
 {"key":"chat/channel/{channel}","write":"anyone","value":{"type":"object","properties":{"created":{"type":"string"}}}},
 {"key":"chat/topic/{channel}","write":"anyone","value":{"type":"object","required":["topic"],"properties":{"topic":{"type":"string"}}}},
 {"key":"chat/msg/{channel}/{ms}-{author}","write":"named","value":{"type":"object","required":["text"],"properties":{"text":{"type":"string"},"edited":{"type":"string"}}}},
 {"key":"chat/nick/{author}","write":"named","value":{"type":"object","required":["nick"],"properties":{"nick":{"type":"string"}}}}]}`)},
	{Name: "tools", Version: 1, Body: []byte(`{"prefix":"tools/","rules":[
 {"key":"tools/item/{ms}-{author}","write":"named","value":{"type":"object","required":["name"],"properties":{"name":{"type":"string"},"description":{"type":"string"},"condition":{"type":"string"},"photo_type":{"type":"string"}}}},
 {"key":"tools/photo/{ms}-{author}","write":"named"},
 {"key":"tools/req/{tool}/{ms}-{author}","write":"named","value":{"type":"object","properties":{"note":{"type":"string"}}}},
 {"key":"tools/answer/{ms}-{author}/{req}","write":"named","value":{"type":"object","required":["answer"],"properties":{"answer":{"enum":["accepted","declined"]},"note":{"type":"string"}}}},
 {"key":"tools/returned/{ms}-{author}/{req}","write":"named","value":{"type":"object","properties":{"note":{"type":"string"}}}}]}`)},
	{Name: "profile", Version: 1, Body: []byte(`{"prefix":"profile/","rules":[
 {"key":"profile/{person}/{author}","write":"named","value":{"type":"object","required":["name"],"properties":{"name":{"type":"string","minLength":1,"maxLength":64},"avatar":{"type":"string"},"default":{"type":"boolean"}}}},
 {"key":"profile/{person}/{author}/avatar","write":"named"}]}`)},
	{Name: "board", Version: 1, Body: []byte(`{"prefix":"board/","rules":[
 {"key":"board/swap/{ms}-{author}","write":"named","value":{"type":"object","required":["kind","category","title"],"properties":{"kind":{"enum":["offer","request"]},"category":{"type":"string","minLength":1,"maxLength":40},"title":{"type":"string","minLength":1,"maxLength":120},"text":{"type":"string","maxLength":4000}}}},
 {"key":"board/help/{swap}/{ms}-{author}","write":"named","value":{"type":"object","properties":{"text":{"type":"string","maxLength":4000}}}},
 {"key":"board/project/{ms}-{author}","write":"named","value":{"type":"object","required":["title","status"],"properties":{"title":{"type":"string","minLength":1,"maxLength":120},"text":{"type":"string","maxLength":8000},"status":{"enum":["proposed","active","done"]}}}},
 {"key":"board/photo/{project}/{ms}-{author}","write":"named"},
 {"key":"board/comment/{project}/{ms}-{author}","write":"named","value":{"type":"object","required":["text"],"properties":{"text":{"type":"string","minLength":1,"maxLength":4000}}}},
 {"key":"board/member/{project}/{author}","write":"named","value":{"type":"object"}},
 {"key":"board/poll/{ms}-{author}","write":"named","once":true,"value":{"type":"object","required":["question","options","closes"],"properties":{"question":{"type":"string","minLength":1,"maxLength":200},"options":{"type":"array","minItems":2,"maxItems":16,"items":{"type":"string","minLength":1,"maxLength":100}},"closes":{"type":"string","format":"date-time"},"ballot":{"enum":["open","secret"]}}}},
 {"key":"board/vote/{poll}/{person}","write":"named","value":{"type":"object","required":["option"],"properties":{"option":{"type":"integer","minimum":0,"maximum":15}}}}]}`)},
	{Name: "energy", Version: 1, Body: []byte(`{"prefix":"energy/","rules":[
 {"key":"energy/post/{ms}-{author}","write":"named","value":{"type":"object","required":["kind","kwh"],"properties":{"kind":{"enum":["offer","request"]},"kwh":{"type":"number","exclusiveMinimum":0,"maximum":100000},"text":{"type":"string","maxLength":4000},"until":{"type":"string","format":"date-time"}}}},
 {"key":"energy/transfer/{person}/{to}/{ms}-{author}","write":"named","once":true,"value":{"type":"object","required":["milli"],"properties":{"milli":{"type":"integer","minimum":0,"maximum":100000000},"note":{"type":"string","maxLength":500}}}},
 {"key":"energy/confirm/{giver}/{person}/{transfer}","write":"named","once":true,"value":{"type":"object","properties":{"milli":{"type":"integer","minimum":0,"maximum":100000000},"note":{"type":"string","maxLength":500}}}},
 {"key":"energy/limit/{member}","write":"admin","value":{"type":"object","required":["milli"],"properties":{"milli":{"type":"integer","minimum":0,"maximum":100000000}}}}]}`)},
}
