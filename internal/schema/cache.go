package schema

import (
	"container/list"
	"sync"
)

// MaxCache bounds, in bytes (about), the compiled sets Parse keeps.
const MaxCache = 16 << 20

// cache keeps compiled sets (and bodies that failed) by the hash of their
// body, least recently used first out, within MaxCache bytes.
var cache = newLRU(MaxCache)

// Parse is Decode, remembered: the same body decodes once while it is in
// the cache. Deciding a space checks the same few bodies again and again.
func Parse(body []byte) (*Set, error) {
	h := hash(body)
	if s, err, ok := cache.get(h); ok {
		return s, err
	}
	s, err := Decode(body)
	size := len(body) + 256
	if s != nil {
		size = s.size + 256
	}
	cache.put(h, s, err, size)
	return s, err
}

type lru struct {
	mu    sync.Mutex // guards the fields below
	max   int
	bytes int
	order *list.List // of *entry, most recent first
	byKey map[[32]byte]*list.Element
}

type entry struct {
	key  [32]byte
	set  *Set
	err  error
	size int
}

func newLRU(max int) *lru {
	return &lru{max: max, order: list.New(), byKey: map[[32]byte]*list.Element{}}
}

func (c *lru) get(k [32]byte) (*Set, error, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byKey[k]
	if !ok {
		return nil, nil, false
	}
	c.order.MoveToFront(el)
	e := el.Value.(*entry)
	return e.set, e.err, true
}

func (c *lru) put(k [32]byte, s *Set, err error, size int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byKey[k]; ok || size > c.max {
		return
	}
	c.byKey[k] = c.order.PushFront(&entry{key: k, set: s, err: err, size: size})
	c.bytes += size
	for c.bytes > c.max {
		el := c.order.Back()
		e := el.Value.(*entry)
		c.order.Remove(el)
		delete(c.byKey, e.key)
		c.bytes -= e.size
	}
}
