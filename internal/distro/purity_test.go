package distro_test

import (
	"fmt"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// The protocol core must stay a pure, deterministic state machine: the
// simulation replays a seed exactly only if the core reads no clock, starts
// no goroutine, imports nothing but the standard library (and hlc), and
// iterates maps only where the order cannot matter. These rules used to
// rest on discipline; this test enforces them on internal/distro and
// internal/hlc (test files excluded).

const modulePath = "github.com/distrod/distrod/"

// corePackages maps each pure package to the module packages it may use.
var corePackages = map[string][]string{
	"../hlc": nil,
	".":      {modulePath + "internal/hlc"},
}

// forbiddenTime are the time functions that read the wall clock or
// schedule on it.
var forbiddenTime = map[string]bool{
	"Now": true, "Since": true, "Until": true, "Sleep": true, "After": true,
	"AfterFunc": true, "Tick": true, "NewTimer": true, "NewTicker": true,
}

// unorderedMaps are the maps functions whose iterators visit a map in
// random order, like ranging over it.
var unorderedMaps = map[string]bool{"Keys": true, "Values": true, "All": true}

// forbiddenPackages may not be imported by the core at all.
var forbiddenPackages = map[string]bool{
	"math/rand":   true, // randomness comes from the *rand.Rand (v2) given to New
	"crypto/rand": true, "os": true, "net": true, "unsafe": true,
}

type parsedPkg struct {
	files []*ast.File
	fset  *token.FileSet
}

func parseCore(t *testing.T, dir string) parsedPkg {
	t.Helper()
	fset := token.NewFileSet()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return parsedPkg{files: files, fset: fset}
}

// moduleImporter type-checks module packages from source and takes the
// standard library from the compiler's export data.
type moduleImporter struct {
	t     *testing.T
	std   types.Importer
	cache map[string]*types.Package
}

func (m *moduleImporter) Import(path string) (*types.Package, error) {
	if !strings.HasPrefix(path, modulePath) {
		return m.std.Import(path)
	}
	if p := m.cache[path]; p != nil {
		return p, nil
	}
	dir := filepath.Join("..", "..", strings.TrimPrefix(path, modulePath))
	pp := parseCore(m.t, dir)
	conf := types.Config{Importer: m}
	p, err := conf.Check(path, pp.fset, pp.files, nil)
	if err != nil {
		return nil, err
	}
	m.cache[path] = p
	return p, nil
}

func TestCore_IsPure(t *testing.T) {
	imp := &moduleImporter{t: t, std: importer.Default(), cache: map[string]*types.Package{}}
	dirs := make([]string, 0, len(corePackages))
	for d := range corePackages { // order-independent: sorted below
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	for _, dir := range dirs {
		pp := parseCore(t, dir)
		if len(pp.files) == 0 {
			t.Fatalf("%s: no files", dir)
		}
		info := &types.Info{Types: map[ast.Expr]types.TypeAndValue{}, Uses: map[*ast.Ident]types.Object{}}
		conf := types.Config{Importer: imp}
		if _, err := conf.Check(pp.files[0].Name.Name, pp.fset, pp.files, info); err != nil {
			t.Fatalf("%s: type check: %v", dir, err)
		}
		allowed := map[string]bool{}
		for _, p := range corePackages[dir] {
			allowed[p] = true
		}
		for _, f := range pp.files {
			for _, v := range checkFile(pp.fset, f, info, allowed) {
				t.Error(v)
			}
		}
	}
}

// checkFile returns every breach of the core's rules in f.
func checkFile(fset *token.FileSet, f *ast.File, info *types.Info, allowed map[string]bool) []string {
	var out []string
	report := func(pos token.Pos, format string, args ...any) {
		out = append(out, fset.Position(pos).String()+": "+fmt.Sprintf(format, args...))
	}
	for _, im := range f.Imports {
		path := strings.Trim(im.Path.Value, `"`)
		switch {
		case forbiddenPackages[path]:
			report(im.Pos(), "imports %s", path)
		case strings.Contains(strings.SplitN(path, "/", 2)[0], ".") && !allowed[path]:
			report(im.Pos(), "imports %s: the core may import only the standard library and %v", path, keys(allowed))
		}
	}
	// Comments that mark a map range as order-independent, by line.
	marked := map[int]bool{}
	for _, cg := range f.Comments {
		for _, c := range cg.List {
			if strings.Contains(c.Text, "order-independent") {
				marked[fset.Position(c.Pos()).Line] = true
			}
		}
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch x := n.(type) {
		case *ast.GoStmt:
			report(x.Pos(), "starts a goroutine")
		case *ast.SelectorExpr:
			id, ok := x.X.(*ast.Ident)
			if !ok {
				return true
			}
			pn, ok := info.Uses[id].(*types.PkgName)
			if !ok {
				return true
			}
			switch path := pn.Imported().Path(); {
			case path == "time" && forbiddenTime[x.Sel.Name]:
				report(x.Pos(), "calls time.%s (time is an argument in the core)", x.Sel.Name)
			case path == "maps" && unorderedMaps[x.Sel.Name] && !marked[fset.Position(x.Pos()).Line]:
				report(x.Pos(), "maps.%s visits a map in random order: sort the keys, or mark the line // order-independent: why", x.Sel.Name)
			}
		case *ast.RangeStmt:
			tv, ok := info.Types[x.X]
			if !ok {
				return true
			}
			if _, isMap := tv.Type.Underlying().(*types.Map); isMap && !marked[fset.Position(x.Pos()).Line] {
				report(x.Pos(), "ranges over a map: iterate sorted keys, or mark the loop // order-independent: why")
			}
		}
		return true
	})
	return out
}

// TestCore_PurityCheckCatchesEveryBreach runs the checker on a package
// that breaks every rule once, so that a checker gone blind fails too.
func TestCore_PurityCheckCatchesEveryBreach(t *testing.T) {
	const src = `package bad

import (
	"maps"
	"os"
	"time"

	"example.com/other"
)

func f(m map[string]int) {
	go func() {}()
	_ = time.Now()
	time.Sleep(time.Millisecond)
	<-time.After(time.Second)
	time.AfterFunc(time.Second, func() {})
	now := time.Now
	_ = now
	for k := range m {
		_ = k
	}
	for k := range m { // order-independent: summing
		_ = k
	}
	for k := range maps.Keys(m) {
		_ = k
	}
	_ = os.Args
	other.X()
}
`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "bad.go", src, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	info := &types.Info{Types: map[ast.Expr]types.TypeAndValue{}, Uses: map[*ast.Ident]types.Object{}}
	// The unknown import fails the type check; the checker still sees the rest.
	conf := types.Config{Importer: importer.Default(), Error: func(error) {}}
	_, _ = conf.Check("bad", fset, []*ast.File{f}, info)
	got := strings.Join(checkFile(fset, f, info, nil), "\n")
	for _, want := range []string{
		"bad.go:5:2: imports os",
		"bad.go:8:2: imports example.com/other",
		"bad.go:12:2: starts a goroutine",
		"bad.go:13:6: calls time.Now",
		"bad.go:14:2: calls time.Sleep",
		"bad.go:15:4: calls time.After",
		"bad.go:16:2: calls time.AfterFunc",
		"bad.go:17:9: calls time.Now",
		"bad.go:19:2: ranges over a map",
		"bad.go:25:17: maps.Keys visits a map in random order",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the checker missed %q; it reported:\n%s", want, got)
		}
	}
	if strings.Contains(got, "bad.go:22:") {
		t.Errorf("the checker flagged a loop marked order-independent:\n%s", got)
	}
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m { // order-independent: sorted below
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
