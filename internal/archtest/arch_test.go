package archtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// module is the import path of the module under test.
const module = "github.com/loamdb/loam"

// layers is the rank table (DESIGN.md §11): layers[r] lists the packages of
// rank r, lowest first. A package may import only project packages of
// strictly lower rank; sameRankImports lists the exceptions.
//
// Paths are relative to the module root: "." is the root package, and a
// trailing "/..." covers a directory and every package below it. An exact
// path wins over a "/..." pattern, a longer pattern over a shorter one.
//
// Packages that do not exist yet may be listed; every package that exists
// must be. Put a new package on the lowest layer above everything it imports.
var layers = [][]string{
	0:  {"internal/keys", "internal/frame", "internal/durable", "internal/netlab", "internal/ackcheck", "internal/version", "internal/golden", "internal/testkit", "internal/store/bodylog"}, // leaf vocabulary: IDs, keys, hashing, signing; frame: the stream protocols' framing; durable: crash-safe small files; netlab: emulated networks for tests; ackcheck: the fault suite's acknowledged-write checker; version: the build's version; golden: the docs' hex dumps for golden tests; testkit: helpers many packages' tests share; store/bodylog: the log of commit bodies beside Pebble
	1:  {"internal/commit", "internal/identity", "internal/schema", "internal/ledger", "internal/poll"},                                                                                      // identity: a person's phrase, identity key, device certificates and revocations
	2:  {"internal/view", "internal/acl", "internal/seal"},
	3:  {"internal/store", "internal/store/storetest", "internal/blob"},
	4:  {"internal/reconcile", "internal/readkey", "internal/snapshot"}, // snapshot: what a checkpoint vouches for (#14); readkey: read-key custody, the store's Unseal and Rotated hooks
	5:  {"internal/p2p"},
	6:  {"internal/space"},
	7:  {"internal/node"},
	8:  {"internal/archive"}, // space archives: the stream format, and restores through the store's write path
	9:  {"internal/api", "internal/ui"},
	10: {"."}, // package loam, the public Go API
	11: {"cmd/..."},
	12: {"internal/archtest", "bench/..."}, // tooling on top: nothing imports it
}

// sameRankImports lists the only imports allowed between two packages of the
// same rank, as importer: imported packages.
var sameRankImports = map[string][]string{
	"internal/store/storetest": {"internal/store"}, // the conformance suite exercises store's interfaces
	"bench/cmd/loamidle":       {"bench"},          // writes bench.IdleResult, the JSON line the harness reads
}

// leaves are packages that import nothing of the project.
var leaves = []string{"internal/keys", "internal/frame", "internal/durable", "internal/netlab", "internal/ackcheck", "internal/version", "internal/golden", "internal/testkit", "internal/store/bodylog"}

// restricted lists third-party imports that only some packages may use. An
// import path matches prefix when it equals it or, for a prefix ending in
// "/", starts with it.
var restricted = []struct {
	prefix string
	only   []string // packages allowed to import it, as in layers
	why    string
}{
	{"github.com/libp2p/", []string{"internal/p2p"}, "internal/p2p is the only go-libp2p importer"},
	{"github.com/multiformats/", []string{"internal/p2p"}, "multiaddrs stay inside internal/p2p; the rest of Loam uses strings"},
	{"github.com/ipfs/", []string{"internal/p2p"}, "go-libp2p's companions (CIDs for the DHT, its datastore) stay with it in internal/p2p"},
	{"google.golang.org/protobuf/", []string{"internal/p2p"}, "protobuf is go-libp2p's wire format (DHT records); Loam's own formats are CBOR"},
	{"github.com/gogo/protobuf/", []string{"internal/p2p"}, "protobuf is go-libp2p's wire format; Loam's own formats are CBOR"},
}

func TestLayering(t *testing.T) {
	checkRankTable(t)

	for _, p := range packages(t) {
		from := p.rel()
		if p.Error != nil {
			// Check what go list could read anyway: an import cycle,
			// for one, is also a layering violation worth naming.
			t.Errorf("%s: go list: %s", from, p.Error.Err)
		}
		if !p.hasCode() && !p.hasTests() {
			continue
		}

		rank, ranked := rankOf(from)
		if !ranked {
			t.Errorf("%s has no rank: add it to the rank table (layers) in internal/archtest/arch_test.go, "+
				"on the lowest layer above every project package it imports", from)
		}
		for _, imp := range p.Imports {
			if msg := checkImport(from, rank, ranked, imp, nil); msg != "" {
				t.Errorf("%s: %s", p.importSite(imp), msg)
			}
		}
		// Test files follow the same rules: a test that reaches up the
		// ranks hides a dependency the code does not have, and one that
		// imports go-libp2p outside internal/p2p spreads it. The few
		// imports tests genuinely need are listed in testImports.
		for _, imp := range slices.Concat(p.TestImports, p.XTestImports) {
			if imp == p.ImportPath {
				continue // package name_test imports the package under test
			}
			if msg := checkImport(from, rank, ranked, imp, testImports[from]); msg != "" {
				t.Errorf("%s (a test file): %s", p.testImportSite(imp), msg)
			}
		}
	}
}

// testImports lists the imports test files may make beyond what the
// package's own code may, as importer: imported packages (paths as in
// layers, or third-party import paths), each with the reason.
var testImports = map[string][]string{
	// The store runs the conformance suite and its history generators
	// (storetest imports store, so only store's external tests can).
	"internal/store": {"internal/store/storetest"},
	// The sync harness's nodes write through space.Space, so that the
	// property tests sync signed, authorized histories as a node does;
	// space does not import reconcile, so there is no cycle.
	"internal/reconcile": {"internal/space"},
	// The ticket's golden test reads its block from docs/format through
	// internal/golden, and the signature benchmark measures CPU through
	// internal/testkit: test tooling, both leaves themselves.
	"internal/keys": {"internal/golden", "internal/testkit"},
	// Likewise the identity records' golden test.
	"internal/identity": {"internal/golden"},
}

// checkImport returns why from (of rank rank, if ranked) must not import
// imp, or "" if it may. allowed lists further imports from may make.
func checkImport(from string, rank int, ranked bool, imp string, allowed []string) string {
	to, inProject := relPath(imp)
	if slices.Contains(allowed, to) || !inProject && slices.Contains(allowed, imp) {
		return ""
	}
	for _, r := range restricted {
		if matchPrefix(imp, r.prefix) && !slices.Contains(r.only, from) {
			return fmt.Sprintf("%s imports %s, but only %s may import %s*: %s",
				from, imp, strings.Join(r.only, ", "), r.prefix, r.why)
		}
	}
	if !inProject {
		return ""
	}
	if slices.Contains(leaves, from) {
		return fmt.Sprintf("%s imports %s, but %s is a leaf package and must import nothing of the project", from, to, from)
	}
	toRank, toRanked := rankOf(to)
	if !ranked || !toRanked {
		return "" // the unranked package is reported on its own
	}
	switch {
	case toRank < rank:
		return "" // downward: fine
	case toRank == rank && slices.Contains(sameRankImports[from], to):
		return "" // a listed exception
	case toRank == rank:
		return fmt.Sprintf("%s (rank %d) imports %s (rank %d): packages of the same rank must not import each other; "+
			"move the shared code to a lower rank, or (rarely) list the pair in sameRankImports",
			from, rank, to, toRank)
	default:
		return fmt.Sprintf("%s (rank %d) imports %s (rank %d): dependencies flow downward only; "+
			"a package may import only project packages of lower rank",
			from, rank, to, toRank)
	}
}

func TestPackageDocs(t *testing.T) {
	for _, p := range packages(t) {
		if !p.hasCode() {
			continue // test files only
		}

		// Files excluded by build constraints count too, so the answer
		// does not depend on the platform running the test.
		files := slices.Concat(p.GoFiles, p.CgoFiles)
		for _, name := range p.IgnoredGoFiles {
			if strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go") {
				files = append(files, name)
			}
		}

		want := "Package " + p.Name
		if p.Name == "main" {
			want = "Command " + path.Base(p.ImportPath)
		}
		fset := token.NewFileSet()
		var docFiles []string
		for _, name := range files {
			f, err := parser.ParseFile(fset, filepath.Join(p.Dir, name), nil, parser.PackageClauseOnly|parser.ParseComments)
			if err != nil {
				t.Errorf("%s: %v", p.display(name), err)
				continue
			}
			if f.Name.Name != p.Name || f.Doc == nil || strings.TrimSpace(f.Doc.Text()) == "" {
				continue // another package (e.g. a //go:build ignore generator), or no doc
			}
			docFiles = append(docFiles, name)
			if text := f.Doc.Text(); !docStartOK(p, text) {
				first, _, _ := strings.Cut(text, "\n")
				t.Errorf("%s: the package doc comment of %s should start with %q, not %q",
					p.display(name), p.rel(), want, first)
			}
		}

		switch len(docFiles) {
		case 0:
			t.Errorf("%s has no package doc comment: add one starting with %q, directly above the package clause "+
				"(in doc.go when it is long)", p.rel(), want)
		case 1:
			// Good.
		default:
			t.Errorf("%s has %d package doc comments (in %s): keep exactly one, in doc.go when it is long",
				p.rel(), len(docFiles), strings.Join(docFiles, ", "))
		}
	}
}

// docStartOK reports whether a package doc comment starts the way Go
// convention asks: "Package name ..." for a library, and "Command ..." or the
// program's name for a main package.
func docStartOK(p *pkg, text string) bool {
	words := strings.Fields(text)
	if len(words) == 0 {
		return false
	}
	if p.Name != "main" {
		return len(words) >= 2 && words[0] == "Package" && strings.TrimRight(words[1], ".,:;") == p.Name
	}
	prog := path.Base(p.ImportPath)
	return words[0] == "Command" || words[0] == prog || words[0] == strings.ToUpper(prog[:1])+prog[1:]
}

// checkRankTable stops the test if the rank table contradicts itself.
func checkRankTable(t *testing.T) {
	t.Helper()
	seen := make(map[string]int)
	for r, layer := range layers {
		for _, p := range layer {
			if prev, dup := seen[p]; dup {
				t.Errorf("rank table: %s is listed twice (ranks %d and %d)", p, prev, r)
			}
			seen[p] = r
		}
	}
	for from, tos := range sameRankImports {
		for _, to := range tos {
			rf, okf := rankOf(from)
			rt, okt := rankOf(to)
			if !okf || !okt || rf != rt {
				t.Errorf("sameRankImports: %s → %s is not a pair of packages of the same rank in the rank table", from, to)
			}
		}
	}
	for _, p := range leaves {
		if _, ok := rankOf(p); !ok {
			t.Errorf("leaves: %s is not in the rank table", p)
		}
	}
	for from := range testImports {
		if _, ok := rankOf(from); !ok {
			t.Errorf("testImports: %s is not in the rank table", from)
		}
	}
	for _, r := range restricted {
		for _, p := range r.only {
			if _, ok := rankOf(p); !ok {
				t.Errorf("restricted %s: %s is not in the rank table", r.prefix, p)
			}
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

// rankOf returns the rank of the package at rel (a path relative to the
// module root), and whether the rank table lists it.
func rankOf(rel string) (rank int, ok bool) {
	best := -1 // length of the longest matching "/..." pattern so far
	for r, layer := range layers {
		for _, entry := range layer {
			if entry == rel {
				return r, true
			}
			dir, isPattern := strings.CutSuffix(entry, "/...")
			if isPattern && (rel == dir || strings.HasPrefix(rel, dir+"/")) && len(dir) > best {
				rank, ok, best = r, true, len(dir)
			}
		}
	}
	return rank, ok
}

// relPath returns importPath relative to the module root ("." for the root
// package), and whether it belongs to the module at all.
func relPath(importPath string) (string, bool) {
	if importPath == module {
		return ".", true
	}
	rel, ok := strings.CutPrefix(importPath, module+"/")
	return rel, ok
}

func matchPrefix(importPath, prefix string) bool {
	return importPath == strings.TrimSuffix(prefix, "/") ||
		strings.HasSuffix(prefix, "/") && strings.HasPrefix(importPath, prefix)
}

// pkg is the part of "go list -json" output the tests read.
type pkg struct {
	ImportPath     string
	Name           string
	Dir            string
	GoFiles        []string // non-test files, after build constraints
	CgoFiles       []string
	IgnoredGoFiles []string // excluded by build constraints, test files included
	Imports        []string // of GoFiles and CgoFiles only
	TestGoFiles    []string // _test.go files of the package itself
	XTestGoFiles   []string // _test.go files of package name_test
	TestImports    []string // of TestGoFiles
	XTestImports   []string // of XTestGoFiles
	Error          *struct{ Err string }
}

// rel returns the package's path relative to the module root.
func (p *pkg) rel() string {
	rel, _ := relPath(p.ImportPath)
	return rel
}

// hasTests reports whether the package has test files.
func (p *pkg) hasTests() bool {
	return len(p.TestGoFiles)+len(p.XTestGoFiles) > 0
}

// hasCode reports whether the package has non-test Go files.
func (p *pkg) hasCode() bool {
	return len(p.GoFiles)+len(p.CgoFiles) > 0
}

// display names one of the package's files relative to the module root.
func (p *pkg) display(file string) string {
	return path.Join(p.rel(), file)
}

// importSite returns "file:line" of the first non-test import of importPath
// in p, or p's path if it cannot be found.
func (p *pkg) importSite(importPath string) string {
	return p.importSiteIn(slices.Concat(p.GoFiles, p.CgoFiles), importPath)
}

// testImportSite is importSite for the package's test files.
func (p *pkg) testImportSite(importPath string) string {
	return p.importSiteIn(slices.Concat(p.TestGoFiles, p.XTestGoFiles), importPath)
}

func (p *pkg) importSiteIn(files []string, importPath string) string {
	fset := token.NewFileSet()
	for _, name := range files {
		f, err := parser.ParseFile(fset, filepath.Join(p.Dir, name), nil, parser.ImportsOnly)
		if err != nil {
			continue
		}
		for _, spec := range f.Imports {
			if got, err := strconv.Unquote(spec.Path.Value); err == nil && got == importPath {
				return fmt.Sprintf("%s:%d", p.display(name), fset.Position(spec.Pos()).Line)
			}
		}
	}
	return p.rel()
}

// packages returns every package of the module, as "go list ./..." sees it
// from the module root.
func packages(t *testing.T) []*pkg {
	t.Helper()
	pkgs, err := loadPackages()
	if err != nil {
		t.Fatal(err)
	}
	return pkgs
}

var loadPackages = sync.OnceValues(func() ([]*pkg, error) {
	// go test runs in the package directory; the module root is where
	// go.mod is.
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return nil, fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return nil, errors.New("go env GOMOD: not inside a module; run the tests from the Loam checkout")
	}

	// -e reports broken packages in their Error field instead of failing.
	cmd := exec.Command("go", "list", "-e",
		"-json=ImportPath,Name,Dir,GoFiles,CgoFiles,IgnoredGoFiles,Imports,TestGoFiles,XTestGoFiles,TestImports,XTestImports,Error", "./...")
	cmd.Dir = filepath.Dir(gomod)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err = cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list ./... in %s: %v\n%s", cmd.Dir, err, stderr.Bytes())
	}

	var pkgs []*pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		p := new(pkg)
		if err := dec.Decode(p); err == io.EOF {
			break
		} else if err != nil {
			return nil, fmt.Errorf("go list ./...: decoding output: %w", err)
		}
		if _, ok := relPath(p.ImportPath); !ok {
			return nil, fmt.Errorf("go list ./... found %s, outside module %s: update the module constant in internal/archtest/arch_test.go",
				p.ImportPath, module)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) == 0 {
		return nil, fmt.Errorf("go list ./... in %s found no packages", cmd.Dir)
	}
	return pkgs, nil
})
