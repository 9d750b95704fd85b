package blob

// MaxRequestFrame is maxRequestFrame, for the external tests.
const MaxRequestFrame = maxRequestFrame

// Waiting returns how many tickets wait in p.
func Waiting(p *Pacer) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.waiting)
}
