package schema

// The rules of the apps Loam ships (docs/apps.md), as an admin declares
// them: commit.Schema{App: a.Name, Version: a.Version, Body: a.Body}.
// Their values are objects whose unknown fields are allowed, so that the
// layouts can grow without a new version; the prefixes are closed, so a
// key under them that is not one of the layouts is refused.

// App is one app's rules.
type App struct {
	Name    string
	Version uint64
	Body    []byte
}

// Apps are the rules of the chat, the tool library and profiles.
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
}
