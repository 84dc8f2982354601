package all

import "testing"

func TestScenariosAreValid(t *testing.T) {
	names := map[string]bool{}
	for _, sc := range Scenarios() {
		if err := sc.Validate(); err != nil {
			t.Error(err)
		}
		if names[sc.Name] {
			t.Errorf("scenario %s declared twice", sc.Name)
		}
		names[sc.Name] = true
		// Every path must be exercised by at least one case, and every fault.
		used := map[string]bool{}
		for _, c := range sc.Cases {
			used["path:"+c.Path] = true
			used["fault:"+c.Fault] = true
		}
		for _, p := range sc.Paths {
			if !used["path:"+p.Name] {
				t.Errorf("%s: path %s has no case", sc.Name, p.Name)
			}
		}
		for _, f := range sc.Faults {
			if !used["fault:"+f.Name] {
				t.Errorf("%s: fault %s has no case", sc.Name, f.Name)
			}
		}
	}
	if len(names) != 4 {
		t.Fatalf("want the four documented scenarios, got %d", len(names))
	}
}
