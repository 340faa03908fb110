// Rendering: every template parsed into one set (partials included, so `define`s are shared),
// executed with Helm's built-ins added to sprig's functions.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	"gopkg.in/yaml.v3"
)

// files is .Files: the chart's non-template files by relative path.
type files map[string][]byte

func (f files) Get(name string) string      { return string(f[name]) }
func (f files) GetBytes(name string) []byte { return f[name] }

// Glob returns the files whose path matches pattern (path.Match syntax, per segment).
func (f files) Glob(pattern string) files {
	out := files{}
	for name, data := range f {
		if ok, _ := path.Match(pattern, name); ok {
			out[name] = data
		}
	}
	return out
}

func render(c *chart, top map[string]interface{}, notes bool) (string, error) {
	root := template.New("root").Option("missingkey=zero")
	funcs := funcMap(root)
	root.Funcs(funcs)
	names := make([]string, 0, len(c.templates))
	for rel := range c.templates {
		names = append(names, rel)
	}
	sort.Strings(names)
	for _, rel := range names {
		if _, err := root.New(templateName(c, rel)).Parse(c.templates[rel]); err != nil {
			return "", cleanError(err)
		}
	}
	var out strings.Builder
	for _, rel := range names {
		base := path.Base(rel)
		if strings.HasPrefix(base, "_") || (base == "NOTES.txt") != notes {
			continue
		}
		name := templateName(c, rel)
		scope := copyTop(top)
		scope["Template"] = map[string]interface{}{"Name": name, "BasePath": c.name + "/templates"}
		var buf bytes.Buffer
		if err := root.ExecuteTemplate(&buf, name, scope); err != nil {
			return "", cleanError(err)
		}
		text := strings.ReplaceAll(buf.String(), "<no value>", "")
		if strings.TrimSpace(text) == "" {
			continue
		}
		if notes {
			out.WriteString(text)
		} else {
			fmt.Fprintf(&out, "---\n# Source: %s\n%s\n", name, strings.Trim(text, "\n"))
		}
	}
	return out.String(), nil
}

func templateName(c *chart, rel string) string { return c.name + "/templates/" + rel }

func copyTop(top map[string]interface{}) map[string]interface{} {
	out := make(map[string]interface{}, len(top)+1)
	for k, v := range top {
		out[k] = v
	}
	return out
}

// failure is what `required` and `fail` raise: the message is kept verbatim.
type failure struct{ message string }

func (f failure) Error() string { return f.message }

var execPrefix = regexp.MustCompile(`^template: ([^:]+:\d+:\d+): executing "[^"]*" at <[^>]*>: error calling \w+: `)

// cleanError turns text/template's "template: NAME:L:C: executing ... error calling required: MSG"
// into Helm's "execution error at (NAME:L:C): MSG".
func cleanError(err error) error {
	msg := err.Error()
	var f failure
	if errors.As(err, &f) {
		if m := execPrefix.FindStringSubmatch(msg); m != nil {
			return fmt.Errorf("execution error at (%s): %s", m[1], f.message)
		}
		return f
	}
	return err
}

func funcMap(root *template.Template) template.FuncMap {
	funcs := sprig.TxtFuncMap()
	delete(funcs, "env")
	delete(funcs, "expandenv")
	// Nested include/tpl calls share the root set; a depth bound stops runaway recursion.
	depth := 0
	funcs["include"] = func(name string, data interface{}) (string, error) {
		if depth > 100 {
			return "", fmt.Errorf("include %q: nested too deeply", name)
		}
		depth++
		defer func() { depth-- }()
		var buf bytes.Buffer
		err := root.ExecuteTemplate(&buf, name, data)
		return buf.String(), err
	}
	funcs["tpl"] = func(text string, data interface{}) (string, error) {
		t, err := root.Clone()
		if err != nil {
			return "", err
		}
		t, err = t.New("tpl").Parse(text)
		if err != nil {
			return "", err
		}
		var buf bytes.Buffer
		err = t.Execute(&buf, data)
		return buf.String(), err
	}
	funcs["required"] = func(message string, v interface{}) (interface{}, error) {
		if v == nil {
			return nil, failure{message}
		}
		if s, ok := v.(string); ok && s == "" {
			return nil, failure{message}
		}
		return v, nil
	}
	funcs["fail"] = func(message string) (string, error) { return "", failure{message} }
	funcs["toYaml"] = toYaml
	funcs["fromYaml"] = func(text string) map[string]interface{} {
		out := map[string]interface{}{}
		if err := yaml.Unmarshal([]byte(text), &out); err != nil {
			out["Error"] = err.Error()
		}
		return out
	}
	funcs["toJson"] = func(v interface{}) string {
		b, err := json.Marshal(v)
		if err != nil {
			return ""
		}
		return string(b)
	}
	funcs["fromJson"] = func(text string) map[string]interface{} {
		out := map[string]interface{}{}
		if err := json.Unmarshal([]byte(text), &out); err != nil {
			out["Error"] = err.Error()
		}
		return out
	}
	// No cluster to look in: `helm template` answers every lookup with an empty map too.
	funcs["lookup"] = func(apiVersion, kind, namespace, name string) map[string]interface{} {
		return map[string]interface{}{}
	}
	return funcs
}

// toYaml is Helm's: block style, two-space indent, no trailing newline.
func toYaml(v interface{}) string {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return ""
	}
	return strings.TrimSuffix(buf.String(), "\n")
}
