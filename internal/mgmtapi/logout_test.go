package mgmtapi

import (
	"encoding/json"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/internal/store"
)

// TestLogOutCoversColumns: a log record in the Management API's shape has
// every column of store.LogColumns under its query-language field name
// (and _id), with the event's value; an absent text or object field is
// left out, isMobile is always there and description is null.
func TestLogOutCoversColumns(t *testing.T) {
	date := time.Date(2025, 6, 21, 12, 0, 0, 123e6, time.UTC)
	var e store.LogEvent
	want := map[string]any{"_id": "9002025021"}
	for _, c := range store.LogColumns() {
		switch p := c.Ref(&e).(type) {
		case *string:
			*p = "v-" + c.Field
			want[c.Field] = *p
		case *bool:
			*p = true
			want[c.Field] = true
		case *time.Time:
			*p = date
			want[c.Field] = "2025-06-21T12:00:00.123Z"
		case *json.RawMessage:
			*p = json.RawMessage(`{"k":"v-` + c.Field + `"}`)
			want[c.Field] = map[string]any{"k": "v-" + c.Field}
		default:
			t.Fatalf("%s: field type %T", c.Column, p)
		}
	}
	e.ID = "9002025021"
	want["log_id"] = e.ID
	if diff := cmp.Diff(want, LogOut(e)); diff != "" {
		t.Errorf("full event (-want +got):\n%s", diff)
	}

	bare := LogOut(store.LogEvent{ID: "9002025022", Date: date})
	keys := slices.Sorted(maps.Keys(bare))
	if !slices.Equal(keys, []string{"_id", "date", "description", "isMobile", "log_id", "type"}) || bare["description"] != nil || bare["isMobile"] != false {
		t.Errorf("bare event %v", bare)
	}
}
