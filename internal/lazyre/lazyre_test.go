package lazyre

import (
	"testing"
)

func TestCompiledOnceOnFirstUse(t *testing.T) {
	re := New(`^a+$`)
	if !re().MatchString("aaa") || re().MatchString("b") {
		t.Fatal("wrong match")
	}
	if re() != re() {
		t.Fatal("compiled twice")
	}
}

func TestCompileAllPanicsOnABadExpression(t *testing.T) {
	bad := New(`(`)
	defer func() {
		if recover() == nil {
			t.Fatal("a bad expression compiled")
		}
		// Leave the registry as other tests expect it.
		mu.Lock()
		all = all[:len(all)-1]
		mu.Unlock()
	}()
	_ = bad
	CompileAll()
}
