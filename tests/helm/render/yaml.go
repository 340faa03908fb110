// YAML the way Helm converts it, through JSON (Helm uses sigs.k8s.io/yaml): parsed YAML takes
// JSON's shapes (string-keyed maps, float64 numbers), and toYaml writes what JSON would hold
// (integral numbers in full, keys in byte order) in block style with a two-space indent.
package main

import (
	"bytes"
	"encoding/json"
	"strings"

	"gopkg.in/yaml.v3"
)

// parseYAML parses YAML text into JSON-shaped values: map[string]interface{},
// []interface{}, float64, string, bool and nil.
func parseYAML(text []byte) (interface{}, error) {
	var parsed interface{}
	if err := yaml.Unmarshal(text, &parsed); err != nil {
		return nil, err
	}
	asJSON, err := json.Marshal(parsed)
	if err != nil {
		return nil, err
	}
	var shaped interface{}
	err = json.Unmarshal(asJSON, &shaped)
	return shaped, err
}

// toYaml is Helm's toYaml: v as JSON, re-emitted as block YAML with two-space indentation
// and no trailing newline; "" when v has no JSON form. yaml.v3 indents a list under its key
// ("key:\n  - a"), where Helm's yaml.v2 writes "key:\n- a": the same data.
func toYaml(v interface{}) string {
	asJSON, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(asJSON, &doc); err != nil {
		return ""
	}
	clearStyles(&doc)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return ""
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

// clearStyles drops the flow style and quoting JSON text parses with, so the encoder picks
// block style and quotes only strings that would otherwise read as another type.
func clearStyles(n *yaml.Node) {
	n.Style = 0
	for _, child := range n.Content {
		clearStyles(child)
	}
}

// fromYaml is Helm's fromYaml: the map a YAML text holds, or a map whose "Error" says why not.
func fromYaml(text string) map[string]interface{} {
	parsed, err := parseYAML([]byte(text))
	if err != nil {
		return map[string]interface{}{"Error": err.Error()}
	}
	switch m := parsed.(type) {
	case map[string]interface{}:
		return m
	case nil:
		return map[string]interface{}{}
	default:
		return map[string]interface{}{"Error": "the YAML text is not a map"}
	}
}
