// Tests of the renderer on throw-away charts: value merging, the Helm built-ins and objects,
// toYaml's formatting, .Files through a symlink, schema and values-file errors, output order,
// documents and blank templates.
package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeChart makes a chart in a temporary directory from path -> content.
func writeChart(t *testing.T, contents map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	base := map[string]string{"Chart.yaml": "apiVersion: v2\nname: demo\nversion: 1.2.3\nappVersion: \"4.5\"\n"}
	for k, v := range contents {
		base[k] = v
	}
	for rel, text := range base {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func writeValues(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestMergesValuesLikeHelm(t *testing.T) {
	dir := writeChart(t, map[string]string{
		"values.yaml":      "a: {b: 1, c: 2, d: {e: 3}}\nlist: [1, 2]\nkeep: x\n",
		"templates/v.yaml": "{{ toYaml .Values }}\n",
	})
	override := writeValues(t, "a: {c: 20, d: null}\nlist: [9]\n")
	out, err := run(dir, []string{override}, "rel", "ns", false)
	if err != nil {
		t.Fatal(err)
	}
	want := "a:\n  b: 1\n  c: 20\nkeep: x\nlist:\n  - 9\n"
	if !strings.Contains(out, want) {
		t.Fatalf("merged values:\n%s\nwant them to contain:\n%s", out, want)
	}
}

func TestHelmBuiltins(t *testing.T) {
	dir := writeChart(t, map[string]string{
		"values.yaml":            "name: world\nport: 8080\nobj: {k: [a, b]}\n",
		"templates/_helpers.tpl": `{{- define "demo.greet" -}}hello {{ .Values.name }}{{- end -}}`,
		"templates/t.yaml": `greet: {{ include "demo.greet" . | upper }}
tpl: {{ tpl "{{ .Values.name }}-{{ .Release.Namespace }}" . }}
chart: {{ .Chart.Name }}-{{ .Chart.Version }}-{{ .Chart.AppVersion }}
release: {{ .Release.Name }} {{ .Release.Service }}
port: {{ .Values.port }}
template: {{ .Template.Name }}
lookup: {{ len (lookup "v1" "Secret" "ns" "x") }}
obj:
  {{- toYaml .Values.obj | nindent 2 }}
json: {{ toJson .Values.obj }}
`,
	})
	out, err := run(dir, nil, "rel", "ns", false)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"greet: HELLO WORLD\n", "tpl: world-ns\n", "chart: demo-1.2.3-4.5\n", "release: rel Helm\n",
		"port: 8080\n", "template: demo/templates/t.yaml\n", "lookup: 0\n", "obj:\n  k:\n    - a\n    - b\n",
		`json: {"k":["a","b"]}`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestRequiredAndFailKeepTheirMessage(t *testing.T) {
	for tmpl, want := range map[string]string{
		`{{ required "image.repository is required" .Values.image }}`: "execution error at (demo/templates/t.yaml:1:3): image.repository is required",
		`{{ if true }}{{ fail "workers must be positive" }}{{ end }}`: "execution error at (demo/templates/t.yaml:1:16): workers must be positive",
		`x: {{ include "demo.image" . }}`:                             "execution error at (demo/templates/t.yaml:1:6): image.tag is required",
	} {
		dir := writeChart(t, map[string]string{
			"templates/_helpers.tpl": `{{ define "demo.image" }}{{ required "image.tag is required" .Values.tag }}{{ end }}`,
			"templates/t.yaml":       tmpl,
		})
		_, err := run(dir, nil, "rel", "ns", false)
		if err == nil || err.Error() != want {
			t.Errorf("%s: error %v, want %q", tmpl, err, want)
		}
	}
}

func TestFilesThroughASymlinkedDirectory(t *testing.T) {
	shared := t.TempDir()
	if err := os.WriteFile(filepath.Join(shared, "a.json"), []byte(`{"a":1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(shared, "b.txt"), []byte("b"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := writeChart(t, map[string]string{
		"templates/t.yaml": `{{- range $path, $_ := .Files.Glob "shared/*.json" }}{{ $path }}={{ $.Files.Get $path }}{{ end }}`,
	})
	if err := os.Symlink(shared, filepath.Join(dir, "shared")); err != nil {
		t.Fatal(err)
	}
	out, err := run(dir, nil, "rel", "ns", false)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, `shared/a.json={"a":1}`) || strings.Contains(out, "b.txt") {
		t.Fatalf("output:\n%s", out)
	}
}

func TestSchemaViolationsAreListed(t *testing.T) {
	dir := writeChart(t, map[string]string{
		"values.yaml":        "workers: 2\nimage: {repository: x}\n",
		"values.schema.json": `{"type": "object", "additionalProperties": false, "properties": {"workers": {"type": "integer", "minimum": 1}, "image": {"type": "object", "properties": {"repository": {"type": "string", "minLength": 1}}}}}`,
		"templates/t.yaml":   "x: 1\n",
	})
	_, err := run(dir, []string{writeValues(t, "workers: 0\nimage: {repository: \"\"}\ntypo: 1\n")}, "rel", "ns", false)
	if err == nil {
		t.Fatal("bad values rendered")
	}
	for _, want := range []string{
		"values don't meet the specifications of the schema(s) in the following chart(s):\ndemo:\n",
		"- workers: Must be greater than or equal to 1",
		"- image.repository: String length must be greater than or equal to 1",
		"- (root): Additional property typo is not allowed",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestOutputInPathOrderWithoutBlanksPartialsOrNotes(t *testing.T) {
	dir := writeChart(t, map[string]string{
		"templates/b.yaml":     "b: 1\n",
		"templates/a.yaml":     "a: 1\n",
		"templates/blank.yaml": "{{- if false }}x: 1{{ end }}\n\n",
		"templates/_p.tpl":     "partial: 1\n",
		"templates/NOTES.txt":  "Hello {{ .Release.Name }}\n",
	})
	out, err := run(dir, nil, "rel", "ns", false)
	if err != nil {
		t.Fatal(err)
	}
	want := "---\n# Source: demo/templates/a.yaml\na: 1\n---\n# Source: demo/templates/b.yaml\nb: 1\n"
	if out != want {
		t.Fatalf("output:\n%q\nwant:\n%q", out, want)
	}
	notes, err := run(dir, nil, "rel", "ns", true)
	if err != nil || notes != "Hello rel\n" {
		t.Fatalf("notes %q, %v", notes, err)
	}
}

func TestChartAndCapabilities(t *testing.T) {
	dir := writeChart(t, map[string]string{
		"templates/t.yaml": `api: {{ .Chart.APIVersion }}
kube: {{ .Capabilities.KubeVersion.Version }}
monitoring: {{ .Capabilities.APIVersions.Has "monitoring.coreos.com/v1" }}
base: {{ .Template.BasePath }}
`,
	})
	out, err := run(dir, nil, "rel", "ns", false)
	if err != nil {
		t.Fatal(err)
	}
	if want := "api: v2\nkube: v1.30.0\nmonitoring: false\nbase: demo/templates\n"; !strings.Contains(out, want) {
		t.Fatalf("output:\n%s\nwant it to contain:\n%s", out, want)
	}
}

func TestToYamlWritesWhatJSONHolds(t *testing.T) {
	dir := writeChart(t, map[string]string{
		"values.yaml":      "v: {size: 10737418240, ratio: 0.5, port: \"8080\", text: \"a\\nb\", B: [{x: 1}], a: null}\n",
		"templates/t.yaml": "{{ toYaml .Values.v }}\n",
	})
	out, err := run(dir, nil, "rel", "ns", false)
	if err != nil {
		t.Fatal(err)
	}
	want := "B:\n  - x: 1\na: null\nport: \"8080\"\nratio: 0.5\nsize: 10737418240\ntext: |-\n  a\n  b\n"
	if !strings.HasSuffix(out, want) {
		t.Fatalf("output:\n%s\nwant it to end with:\n%s", out, want)
	}
}

func TestFromYamlShapesValuesAsJSON(t *testing.T) {
	dir := writeChart(t, map[string]string{
		"templates/t.yaml": `n: {{ (fromYaml "n: 1000000").n }}
bad: {{ hasKey (fromYaml "- a") "Error" }}
`,
	})
	out, err := run(dir, nil, "rel", "ns", false)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "n: 1e+06\nbad: true\n") {
		t.Fatalf("output:\n%s", out)
	}
}

func TestValuesFileErrorsNameTheFile(t *testing.T) {
	dir := writeChart(t, map[string]string{"templates/t.yaml": "x: 1\n"})
	bad := writeValues(t, "a: [1,\n")
	if _, err := run(dir, []string{bad}, "rel", "ns", false); err == nil || !strings.HasPrefix(err.Error(), bad+": ") {
		t.Errorf("unparsable values: error %v", err)
	}
	missing := filepath.Join(t.TempDir(), "none.yaml")
	if _, err := run(dir, []string{missing}, "rel", "ns", false); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing values file: error %v", err)
	}
	if _, err := run(t.TempDir(), nil, "rel", "ns", false); err == nil || !strings.Contains(err.Error(), "Chart.yaml") {
		t.Errorf("not a chart: error %v", err)
	}
}

func TestEachDocumentHasItsSource(t *testing.T) {
	dir := writeChart(t, map[string]string{
		"templates/multi.yaml": "{{- range list \"a\" \"b\" }}\n---\nname: {{ . }}\n{{- end }}\n---\n\n",
	})
	out, err := run(dir, nil, "rel", "ns", false)
	if err != nil {
		t.Fatal(err)
	}
	want := "---\n# Source: demo/templates/multi.yaml\nname: a\n---\n# Source: demo/templates/multi.yaml\nname: b\n"
	if out != want {
		t.Fatalf("output:\n%q\nwant:\n%q", out, want)
	}
}

func TestNumbersAreFloatsAsInHelm(t *testing.T) {
	dir := writeChart(t, map[string]string{
		"values.yaml":      "big: 1000000\n",
		"templates/t.yaml": "raw: {{ .Values.big }}\nint: {{ int .Values.big }}\n",
	})
	out, err := run(dir, nil, "rel", "ns", false)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "raw: 1e+06\nint: 1000000\n") {
		t.Fatalf("output:\n%s", out)
	}
}
