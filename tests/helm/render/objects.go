// The objects templates see besides .Values: .Release, .Chart, .Capabilities and .Files
// (.Template is added per template by render).
package main

import "path"

// files is .Files: the chart's non-template files by slash-separated path relative to it.
type files map[string][]byte

func (f files) Get(name string) string      { return string(f[name]) }
func (f files) GetBytes(name string) []byte { return f[name] }

// Glob returns the files whose path matches pattern (path.Match syntax: `*` stays within
// one path segment).
func (f files) Glob(pattern string) files {
	out := files{}
	for name, data := range f {
		if ok, _ := path.Match(pattern, name); ok {
			out[name] = data
		}
	}
	return out
}

// apiVersions is .Capabilities.APIVersions: offline there is no cluster to ask, so no API
// group/version is known to be served.
type apiVersions struct{}

func (apiVersions) Has(string) bool { return false }

func topObjects(c *chart, values map[string]interface{}, release, namespace string) map[string]interface{} {
	return map[string]interface{}{
		"Values":  values,
		"Chart":   c.metadata,
		"Files":   c.files,
		"Release": map[string]interface{}{"Name": release, "Namespace": namespace, "Service": "Helm", "IsInstall": true, "IsUpgrade": false, "Revision": 1},
		"Capabilities": map[string]interface{}{
			"KubeVersion": map[string]interface{}{"Version": "v1.30.0", "Major": "1", "Minor": "30"},
			"APIVersions": apiVersions{},
		},
	}
}
