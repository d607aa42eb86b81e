package hydrogen

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"

	pb "github.com/hydrogen-mesos/hydrogen/clients/go/hydrogenv1"
)

// AppFromJSON reads one app in the REST API's JSON shape (as in
// examples/*.json). The proto mirrors that JSON except for keywords, which are
// enums ("unique" -> STRATEGY_TYPE_UNIQUE), and lists of string maps, which
// are StringMap (and DriverOpt: a string or a map) messages.
func AppFromJSON(data []byte) (*pb.App, error) {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, err
	}
	return appFromValue(v)
}

// AppsFromFile reads a JSON file holding one app object or an array of them.
func AppsFromFile(path string) ([]*pb.App, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	list, ok := v.([]any)
	if !ok {
		list = []any{v}
	}
	apps := make([]*pb.App, 0, len(list))
	for i, a := range list {
		app, err := appFromValue(a)
		if err != nil {
			return nil, fmt.Errorf("%s: app %d: %w", path, i, err)
		}
		apps = append(apps, app)
	}
	return apps, nil
}

func appFromValue(v any) (*pb.App, error) {
	app := &pb.App{}
	converted, err := json.Marshal(message(app.ProtoReflect().Descriptor(), v))
	if err != nil {
		return nil, err
	}
	if err := (protojson.UnmarshalOptions{}).Unmarshal(converted, app); err != nil {
		return nil, err
	}
	return app, nil
}

func message(md protoreflect.MessageDescriptor, v any) any {
	obj, ok := v.(map[string]any)
	if !ok {
		return v
	}
	out := make(map[string]any, len(obj))
	for key, val := range obj {
		fd := md.Fields().ByName(protoreflect.Name(key))
		if fd == nil {
			fd = md.Fields().ByJSONName(key)
		}
		if fd == nil || val == nil {
			out[key] = val
			continue
		}
		if list, ok := val.([]any); ok && fd.IsList() {
			conv := make([]any, len(list))
			for i, e := range list {
				conv[i] = field(fd, e)
			}
			out[key] = conv
		} else {
			out[key] = field(fd, val)
		}
	}
	return out
}

func field(fd protoreflect.FieldDescriptor, v any) any {
	if ed := fd.Enum(); ed != nil {
		s, ok := v.(string)
		if !ok {
			return v
		}
		upper := strings.ToUpper(s)
		values := ed.Values()
		for i := 0; i < values.Len(); i++ {
			name := string(values.Get(i).Name())
			if name == s || strings.HasSuffix(name, "_"+upper) {
				return name
			}
		}
		return v
	}
	md := fd.Message()
	if md == nil || fd.IsMap() {
		return v
	}
	switch md.FullName() {
	case "hydrogen.v1.StringMap":
		if m, ok := v.(map[string]any); ok {
			if _, has := m["entries"]; !has {
				return map[string]any{"entries": m}
			}
		}
	case "hydrogen.v1.DriverOpt":
		switch x := v.(type) {
		case string:
			return map[string]any{"text": x}
		case map[string]any:
			_, text := x["text"]
			_, mp := x["map"]
			if !text && !mp {
				return map[string]any{"map": map[string]any{"entries": x}}
			}
		}
	}
	return message(md, v)
}
