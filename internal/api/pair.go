package api

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Pairing: 'loam pair' asks the loopback API for a one-time code (POST
// /v1/pairings); a browser on the home network spends it on the
// --ui-listen listener (POST /v1/pair, from the pair page) and gets a
// durable session named as 'loam pair --name' said.
const (
	// PairTTL is how long a pairing code stays valid if unused.
	PairTTL = 10 * time.Minute
	// PairTries is how many wrong codes in a row lock pairing, for
	// PairLock.
	PairTries = 5
	PairLock  = time.Minute
	// pairAlphabet has no letters or digits that look alike (0/O, 1/I/L,
	// 5/S, 8/B, 2/Z, U/V): 23 symbols, 8 of them make a code of 36 bits.
	pairAlphabet = "34679ACDEFGHJKMNPQRTWXY"
	pairLen      = 8
	// maxPairCodes bounds the unused codes held.
	maxPairCodes = 16
	// spentTTL is how long a used or expired code is remembered, to say
	// so rather than "wrong"; at most maxSpent are.
	spentTTL = time.Hour
	maxSpent = 1024
)

// pairCode is an unused pairing code.
type pairCode struct {
	name    string
	expires time.Time
}

// pairing holds the unused codes, by the SHA-256 of their normal form,
// and the count of wrong ones.
type pairing struct {
	mu     sync.Mutex
	codes  map[[32]byte]pairCode  // guarded by mu
	spent  map[[32]byte]time.Time // used or expired codes → when; guarded by mu
	wrong  int                    // wrong codes since the last lock or right code; guarded by mu
	locked time.Time              // pairing refused until then; guarded by mu
	now    func() time.Time       // time.Now but in tests
}

// normalCode returns a code as typed in its normal form: upper case,
// without spaces or dashes.
func normalCode(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '-', '\t':
			return -1
		}
		if 'a' <= r && r <= 'z' {
			return r - 'a' + 'A'
		}
		return r
	}, s)
}

// newCode returns a new code in its normal form.
func newCode() string {
	b := make([]byte, pairLen)
	for i := range b {
		// Rejection sampling keeps every symbol equally likely.
		var c [1]byte
		for {
			rand.Read(c[:])
			if int(c[0]) < 256-256%len(pairAlphabet) {
				break
			}
		}
		b[i] = pairAlphabet[int(c[0])%len(pairAlphabet)]
	}
	return string(b)
}

// showCode returns a code as shown: two groups of four.
func showCode(c string) string { return c[:4] + "-" + c[4:] }

// add returns a new code for a session named name.
func (p *pairing) add(name string) (string, time.Time) {
	code := newCode()
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.expireLocked(now)
	if len(p.codes) >= maxPairCodes {
		h := oldest(p.codes, func(c pairCode) time.Time { return c.expires })
		delete(p.codes, h)
		p.spent[h] = now
	}
	exp := now.Add(PairTTL)
	p.codes[sha256.Sum256([]byte(code))] = pairCode{name: name, expires: exp}
	return code, exp
}

func (p *pairing) expireLocked(now time.Time) {
	for h, c := range p.codes {
		if !now.Before(c.expires) {
			delete(p.codes, h)
			p.spent[h] = now
		}
	}
	maps.DeleteFunc(p.spent, func(_ [32]byte, at time.Time) bool { return now.Sub(at) > spentTTL })
	if len(p.spent) > maxSpent {
		delete(p.spent, oldest(p.spent, func(at time.Time) time.Time { return at }))
	}
}

// take spends code: it returns the session name it was made for, or an
// error (ErrPairLocked, ErrBadPairCode); locked reports that this wrong
// code locked pairing.
func (p *pairing) take(code string) (name string, locked bool, err error) {
	h := sha256.Sum256([]byte(normalCode(code)))
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if now.Before(p.locked) {
		return "", false, &kindError{kind: ErrPairLocked,
			msg: fmt.Sprintf("pairing is locked for %d more seconds after %d wrong codes: wait, then type the code again", int(p.locked.Sub(now).Seconds())+1, PairTries)}
	}
	p.expireLocked(now)
	if c, ok := p.codes[h]; ok {
		delete(p.codes, h)
		p.spent[h] = now
		p.wrong = 0
		return c.name, false, nil
	}
	if _, ok := p.spent[h]; ok {
		return "", false, &kindError{kind: ErrBadPairCode,
			msg: fmt.Sprintf("this pairing code was already used or has expired (a code works once, for %d minutes): run 'loam pair' on the node for a new one", int(PairTTL.Minutes()))}
	}
	p.wrong++
	if p.wrong >= PairTries {
		p.wrong = 0
		p.locked = now.Add(PairLock)
		locked = true
	}
	return "", locked, &kindError{kind: ErrBadPairCode,
		msg: "this pairing code is wrong: check it against what 'loam pair' printed, or run it again for a new one"}
}

// newPairing serves POST /v1/pairings (loopback only, see lanOnly): a
// pairing code for a session named as asked.
func (s *Server) newPairing(w http.ResponseWriter, r *http.Request) {
	var req PairRequest
	if err := decodeJSON(r, &req); err != nil {
		writeError(w, err)
		return
	}
	if req.Name == "" {
		req.Name = "phone"
	}
	if err := checkSessionName(req.Name); err != nil {
		writeError(w, err)
		return
	}
	port, cert := s.phone.listening()
	if port == "" {
		writeError(w, &kindError{kind: ErrNoUIListen,
			msg: "the daemon serves no listener for phones: restart it with --ui-listen, e.g. 'loam daemon --ui-listen 0.0.0.0:7443'"})
		return
	}
	code, exp := s.phone.pair.add(req.Name)
	fp := base64.RawURLEncoding.EncodeToString(mustStd(cert.SPKI))
	ca := sha256.Sum256(cert.CA.Raw)
	writeJSON(w, http.StatusCreated, Pairing{
		Name: req.Name, Code: showCode(code), Expires: FormatTime(exp), SPKI: cert.SPKI, CA: cert.CAFingerprint,
		URLs: s.phone.lanURLs("/pair.html#code=" + code + "&fp=" + fp + "&ca=" + base64.RawURLEncoding.EncodeToString(ca[:])),
	})
}

func mustStd(s string) []byte {
	b, _ := base64.StdEncoding.DecodeString(s)
	return b
}

// PairCodeRequest is the body of POST /v1/pair.
type PairCodeRequest struct {
	Code string `json:"code"`
}

// Paired is the answer to POST /v1/pair.
type Paired struct {
	Name string `json:"name"` // the new session's
}

// redeemPair serves POST /v1/pair on the --ui-listen listener: a right
// code starts a durable session for the browser. Its Host was checked;
// the request must come from the pair page (its own Origin): a page of
// another site cannot log the browser into a session of its choosing.
func (s *Server) redeemPair(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Referrer-Policy", "no-referrer")
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeErrorStatus(w, http.StatusMethodNotAllowed, "method_not_allowed", "use POST /v1/pair with {\"code\": …}, from the pair page")
		return
	}
	if r.Header.Get("Origin") != "https://"+r.Host {
		writeError(w, &kindError{kind: ErrForbidden, msg: "pairing is accepted only from the node's own pair page"})
		return
	}
	var req PairCodeRequest
	if err := decodeJSON(r, &req); err != nil {
		writeError(w, err)
		return
	}
	if len(req.Code) > 64 {
		writeError(w, badRequestf("the pairing code is too long: it has %d letters and digits", pairLen))
		return
	}
	name, locked, err := s.phone.pair.take(req.Code)
	if locked {
		s.logger().Info("pairing locked", "wrong_codes", PairTries, "for", PairLock.String(), "last_from", remoteIP(r))
	}
	if err != nil {
		writeError(w, err)
		return
	}
	sec, named, err := s.sess.start(name, remoteIP(r), viaLAN)
	if err != nil {
		writeError(w, err)
		return
	}
	setSessionCookies(w, r, sec, true)
	writeJSON(w, http.StatusOK, Paired{Name: named})
}

// logger returns the logger Serve gave, or one that discards.
func (s *Server) logger() *slog.Logger {
	if l := s.phone.log.Load(); l != nil {
		return l
	}
	return slog.New(slog.DiscardHandler)
}
