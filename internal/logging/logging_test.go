package logging

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
)

func TestBridgeLogrus(t *testing.T) {
	tests := []struct {
		name      string
		level     logrus.Level
		fields    logrus.Fields
		wantLevel string
		absent    []string
	}{
		{"5xx stays an error", logrus.ErrorLevel, logrus.Fields{"http.response.status": 500}, "ERROR", nil},
		{"4xx is client traffic", logrus.ErrorLevel, logrus.Fields{"http.response.status": 404}, "INFO", nil},
		{"error without status", logrus.ErrorLevel, nil, "ERROR", nil},
		{"warning", logrus.WarnLevel, nil, "WARN", nil},
		{"credentials dropped", logrus.InfoLevel, logrus.Fields{"http.request.authorization": "Basic c2VjcmV0", "password": "hunter2", "token": "eyJx"}, "INFO",
			[]string{"c2VjcmV0", "hunter2", "eyJx"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			l, err := New(&buf, "json", "info")
			if err != nil {
				t.Fatal(err)
			}
			lr := logrus.New()
			lr.SetOutput(&bytes.Buffer{})
			BridgeLogrus(lr, l)
			lr.WithFields(tt.fields).Log(tt.level, "msg")
			var rec map[string]any
			if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
				t.Fatalf("bridged line %q: %v", buf.String(), err)
			}
			if rec["level"] != tt.wantLevel {
				t.Errorf("level = %v, want %s", rec["level"], tt.wantLevel)
			}
			for _, s := range tt.absent {
				if strings.Contains(buf.String(), s) {
					t.Errorf("log line contains %q: %s", s, buf.String())
				}
			}
		})
	}
}
