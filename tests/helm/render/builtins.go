// Helm's template functions on top of sprig's: include, tpl, required, fail, toYaml,
// fromYaml, fromJson and lookup; sprig's env and expandenv removed, as Helm does. (sprig's
// toJson is Helm's.)
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"text/template"

	"github.com/Masterminds/sprig"
)

// failure is what `required` and `fail` raise: the message is kept verbatim.
type failure struct{ message string }

func (f failure) Error() string { return f.message }

// maxIncludeDepth bounds nested include calls, so a template including itself fails.
const maxIncludeDepth = 100

// funcMap is the functions of the templates in root (include and tpl execute in that set).
func funcMap(root *template.Template) template.FuncMap {
	funcs := sprig.TxtFuncMap()
	delete(funcs, "env")
	delete(funcs, "expandenv")
	depth := 0
	funcs["include"] = func(name string, data interface{}) (string, error) {
		if depth >= maxIncludeDepth {
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
		if t, err = t.New("tpl").Parse(text); err != nil {
			return "", err
		}
		var buf bytes.Buffer
		err = t.Execute(&buf, data)
		return buf.String(), err
	}
	funcs["required"] = func(message string, v interface{}) (interface{}, error) {
		if s, isString := v.(string); v == nil || (isString && s == "") {
			return nil, failure{message}
		}
		return v, nil
	}
	funcs["fail"] = func(message string) (string, error) { return "", failure{message} }
	funcs["toYaml"] = toYaml
	funcs["fromYaml"] = fromYaml
	// Helm's fromJson answers bad JSON with an "Error" entry where sprig's returns nil.
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
