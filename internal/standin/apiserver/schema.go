package apiserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
	_ "google.golang.org/protobuf/types/known/timestamppb" // registers google/protobuf/timestamp.proto
)

// KFP parses filters and request bodies with protojson against its API
// protos, and clients see protojson's own error texts ("proto: (line 1:69):
// unknown field \"bogus\""). The stand-in parses against the same messages,
// described here field for field from kubeflow/pipelines
// backend/api/{v1beta1,v2beta1}/{filter,experiment,resource_reference}.proto,
// so it accepts and refuses exactly what KFP does, with the same words.
const schemaV2 = `
name: "standin/v2beta1.proto" package: "kubeflow.pipelines.backend" syntax: "proto3"
dependency: "google/protobuf/timestamp.proto"
message_type {
  name: "Filter"
  field { name: "predicates" number: 1 label: LABEL_REPEATED type: TYPE_MESSAGE type_name: ".kubeflow.pipelines.backend.Predicate" }
}
message_type {
  name: "Predicate"
  field { name: "operation" number: 1 label: LABEL_OPTIONAL type: TYPE_ENUM type_name: ".kubeflow.pipelines.backend.Predicate.Operation" }
  field { name: "key" number: 2 label: LABEL_OPTIONAL type: TYPE_STRING }
  field { name: "int_value" number: 3 label: LABEL_OPTIONAL type: TYPE_INT32 oneof_index: 0 }
  field { name: "long_value" number: 4 label: LABEL_OPTIONAL type: TYPE_INT64 oneof_index: 0 }
  field { name: "string_value" number: 5 label: LABEL_OPTIONAL type: TYPE_STRING oneof_index: 0 }
  field { name: "timestamp_value" number: 6 label: LABEL_OPTIONAL type: TYPE_MESSAGE type_name: ".google.protobuf.Timestamp" oneof_index: 0 }
  field { name: "int_values" number: 7 label: LABEL_OPTIONAL type: TYPE_MESSAGE type_name: ".kubeflow.pipelines.backend.Predicate.IntValues" oneof_index: 0 }
  field { name: "long_values" number: 8 label: LABEL_OPTIONAL type: TYPE_MESSAGE type_name: ".kubeflow.pipelines.backend.Predicate.LongValues" oneof_index: 0 }
  field { name: "string_values" number: 9 label: LABEL_OPTIONAL type: TYPE_MESSAGE type_name: ".kubeflow.pipelines.backend.Predicate.StringValues" oneof_index: 0 }
  nested_type { name: "IntValues" field { name: "values" number: 1 label: LABEL_REPEATED type: TYPE_INT32 } }
  nested_type { name: "StringValues" field { name: "values" number: 2 label: LABEL_REPEATED type: TYPE_STRING } }
  nested_type { name: "LongValues" field { name: "values" number: 3 label: LABEL_REPEATED type: TYPE_INT64 } }
  enum_type {
    name: "Operation"
    value { name: "OPERATION_UNSPECIFIED" number: 0 } value { name: "EQUALS" number: 1 } value { name: "NOT_EQUALS" number: 2 }
    value { name: "GREATER_THAN" number: 3 } value { name: "GREATER_THAN_EQUALS" number: 5 } value { name: "LESS_THAN" number: 6 }
    value { name: "LESS_THAN_EQUALS" number: 7 } value { name: "IN" number: 8 } value { name: "IS_SUBSTRING" number: 9 }
  }
  oneof_decl { name: "value" }
}
message_type {
  name: "Experiment"
  field { name: "experiment_id" number: 1 label: LABEL_OPTIONAL type: TYPE_STRING }
  field { name: "display_name" number: 2 label: LABEL_OPTIONAL type: TYPE_STRING }
  field { name: "description" number: 3 label: LABEL_OPTIONAL type: TYPE_STRING }
  field { name: "created_at" number: 4 label: LABEL_OPTIONAL type: TYPE_MESSAGE type_name: ".google.protobuf.Timestamp" }
  field { name: "namespace" number: 5 label: LABEL_OPTIONAL type: TYPE_STRING }
  field { name: "storage_state" number: 6 label: LABEL_OPTIONAL type: TYPE_ENUM type_name: ".kubeflow.pipelines.backend.Experiment.StorageState" }
  field { name: "last_run_created_at" number: 7 label: LABEL_OPTIONAL type: TYPE_MESSAGE type_name: ".google.protobuf.Timestamp" }
  enum_type {
    name: "StorageState"
    value { name: "STORAGE_STATE_UNSPECIFIED" number: 0 } value { name: "AVAILABLE" number: 1 } value { name: "ARCHIVED" number: 2 }
  }
}
`

const schemaV1 = `
name: "standin/v1beta1.proto" package: "api" syntax: "proto3"
dependency: "google/protobuf/timestamp.proto"
message_type {
  name: "Predicate"
  field { name: "op" number: 1 label: LABEL_OPTIONAL type: TYPE_ENUM type_name: ".api.Predicate.Op" }
  field { name: "key" number: 2 label: LABEL_OPTIONAL type: TYPE_STRING }
  field { name: "int_value" number: 3 label: LABEL_OPTIONAL type: TYPE_INT32 oneof_index: 0 }
  field { name: "long_value" number: 4 label: LABEL_OPTIONAL type: TYPE_INT64 oneof_index: 0 }
  field { name: "string_value" number: 5 label: LABEL_OPTIONAL type: TYPE_STRING oneof_index: 0 }
  field { name: "timestamp_value" number: 6 label: LABEL_OPTIONAL type: TYPE_MESSAGE type_name: ".google.protobuf.Timestamp" oneof_index: 0 }
  field { name: "int_values" number: 7 label: LABEL_OPTIONAL type: TYPE_MESSAGE type_name: ".api.IntValues" oneof_index: 0 }
  field { name: "long_values" number: 8 label: LABEL_OPTIONAL type: TYPE_MESSAGE type_name: ".api.LongValues" oneof_index: 0 }
  field { name: "string_values" number: 9 label: LABEL_OPTIONAL type: TYPE_MESSAGE type_name: ".api.StringValues" oneof_index: 0 }
  enum_type {
    name: "Op"
    value { name: "UNKNOWN" number: 0 } value { name: "EQUALS" number: 1 } value { name: "NOT_EQUALS" number: 2 }
    value { name: "GREATER_THAN" number: 3 } value { name: "GREATER_THAN_EQUALS" number: 5 } value { name: "LESS_THAN" number: 6 }
    value { name: "LESS_THAN_EQUALS" number: 7 } value { name: "IN" number: 8 } value { name: "IS_SUBSTRING" number: 9 }
  }
  oneof_decl { name: "value" }
}
message_type { name: "IntValues" field { name: "values" number: 1 label: LABEL_REPEATED type: TYPE_INT32 } }
message_type { name: "StringValues" field { name: "values" number: 2 label: LABEL_REPEATED type: TYPE_STRING } }
message_type { name: "LongValues" field { name: "values" number: 3 label: LABEL_REPEATED type: TYPE_INT64 } }
message_type {
  name: "Filter"
  field { name: "predicates" number: 1 label: LABEL_REPEATED type: TYPE_MESSAGE type_name: ".api.Predicate" }
}
message_type {
  name: "ResourceKey"
  field { name: "type" number: 1 label: LABEL_OPTIONAL type: TYPE_ENUM type_name: ".api.ResourceType" }
  field { name: "id" number: 2 label: LABEL_OPTIONAL type: TYPE_STRING }
}
message_type {
  name: "ResourceReference"
  field { name: "key" number: 1 label: LABEL_OPTIONAL type: TYPE_MESSAGE type_name: ".api.ResourceKey" }
  field { name: "name" number: 3 label: LABEL_OPTIONAL type: TYPE_STRING }
  field { name: "relationship" number: 2 label: LABEL_OPTIONAL type: TYPE_ENUM type_name: ".api.Relationship" }
}
message_type {
  name: "Experiment"
  field { name: "id" number: 1 label: LABEL_OPTIONAL type: TYPE_STRING }
  field { name: "name" number: 2 label: LABEL_OPTIONAL type: TYPE_STRING }
  field { name: "description" number: 3 label: LABEL_OPTIONAL type: TYPE_STRING }
  field { name: "created_at" number: 4 label: LABEL_OPTIONAL type: TYPE_MESSAGE type_name: ".google.protobuf.Timestamp" }
  field { name: "resource_references" number: 5 label: LABEL_REPEATED type: TYPE_MESSAGE type_name: ".api.ResourceReference" }
  field { name: "storage_state" number: 6 label: LABEL_OPTIONAL type: TYPE_ENUM type_name: ".api.Experiment.StorageState" }
  enum_type {
    name: "StorageState"
    value { name: "STORAGESTATE_UNSPECIFIED" number: 0 } value { name: "STORAGESTATE_AVAILABLE" number: 1 } value { name: "STORAGESTATE_ARCHIVED" number: 2 }
  }
}
enum_type {
  name: "ResourceType"
  value { name: "UNKNOWN_RESOURCE_TYPE" number: 0 } value { name: "EXPERIMENT" number: 1 } value { name: "JOB" number: 2 }
  value { name: "PIPELINE" number: 3 } value { name: "PIPELINE_VERSION" number: 4 } value { name: "NAMESPACE" number: 5 }
}
enum_type {
  name: "Relationship"
  value { name: "UNKNOWN_RELATIONSHIP" number: 0 } value { name: "OWNER" number: 1 } value { name: "CREATOR" number: 2 }
}
`

// schema is the messages of one API version the stand-in parses.
type schema struct {
	filter, experiment protoreflect.MessageDescriptor
}

// schemas holds both API versions' messages; built once per Server (the
// registry is local, so no package-level state).
type schemas struct{ v1, v2 schema }

func newSchemas() (schemas, error) {
	var files protoregistry.Files
	load := func(text string) (protoreflect.FileDescriptor, error) {
		var fdp descriptorpb.FileDescriptorProto
		if err := prototext.Unmarshal([]byte(text), &fdp); err != nil {
			return nil, fmt.Errorf("stand-in schema: %w", err)
		}
		fd, err := protodesc.NewFile(&fdp, resolvers{&files, protoregistry.GlobalFiles})
		if err != nil {
			return nil, fmt.Errorf("stand-in schema %s: %w", fdp.GetName(), err)
		}
		return fd, files.RegisterFile(fd)
	}
	v1, err := load(schemaV1)
	if err != nil {
		return schemas{}, err
	}
	v2, err := load(schemaV2)
	if err != nil {
		return schemas{}, err
	}
	return schemas{
		v1: schema{filter: v1.Messages().ByName("Filter"), experiment: v1.Messages().ByName("Experiment")},
		v2: schema{filter: v2.Messages().ByName("Filter"), experiment: v2.Messages().ByName("Experiment")},
	}, nil
}

// resolvers finds a file in the first registry that has it.
type resolvers []*protoregistry.Files

func (rs resolvers) FindFileByPath(p string) (protoreflect.FileDescriptor, error) {
	for _, r := range rs {
		if fd, err := r.FindFileByPath(p); err == nil {
			return fd, nil
		}
	}
	return nil, protoregistry.NotFound
}

func (rs resolvers) FindDescriptorByName(n protoreflect.FullName) (protoreflect.Descriptor, error) {
	for _, r := range rs {
		if d, err := r.FindDescriptorByName(n); err == nil {
			return d, nil
		}
	}
	return nil, protoregistry.NotFound
}

// unmarshalProto parses protojson into a fresh message of md. protojson
// deliberately writes its "proto: " prefix with a no-break space (U+00A0)
// in some builds and a plain space in others; the recorded 2.17.0 build
// wrote the no-break space, so the stand-in always does.
func unmarshalProto(md protoreflect.MessageDescriptor, b []byte) (protoreflect.Message, error) {
	m := dynamicpb.NewMessage(md)
	if err := protojson.Unmarshal(b, m); err != nil {
		msg := strings.Replace(strings.ReplaceAll(err.Error(), "\u00a0", " "), "proto: ", "proto:\u00a0", 1)
		return nil, fmt.Errorf("%s", msg)
	}
	return m, nil
}

// decodeGatewayBody is grpc-gateway v2's JSONPb decoder for a request body:
// encoding/json reads one JSON value first (its syntax errors reach the
// client verbatim: "invalid character 'o' in literal null (expecting
// 'u')"), then protojson parses it into the request message.
func decodeGatewayBody(body []byte, md protoreflect.MessageDescriptor) (protoreflect.Message, error) {
	var raw json.RawMessage
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(&raw); err != nil {
		return nil, err
	}
	return unmarshalProto(md, raw)
}

// Field readers for dynamic messages; absent fields read as zero values.

func getString(m protoreflect.Message, name string) string {
	fd := m.Descriptor().Fields().ByName(protoreflect.Name(name))
	if fd == nil || !m.Has(fd) {
		return ""
	}
	return m.Get(fd).String()
}

func getMessage(m protoreflect.Message, name string) protoreflect.Message {
	fd := m.Descriptor().Fields().ByName(protoreflect.Name(name))
	if fd == nil || !m.Has(fd) {
		return nil
	}
	return m.Get(fd).Message()
}

func getList(m protoreflect.Message, name string) protoreflect.List {
	fd := m.Descriptor().Fields().ByName(protoreflect.Name(name))
	if fd == nil || !m.Has(fd) {
		return nil
	}
	return m.Get(fd).List()
}

// enumName is the value's name, or its number when the enum has no such value.
func enumName(m protoreflect.Message, name string) string {
	fd := m.Descriptor().Fields().ByName(protoreflect.Name(name))
	if fd == nil || !m.Has(fd) {
		return ""
	}
	n := m.Get(fd).Enum()
	if v := fd.Enum().Values().ByNumber(n); v != nil {
		return string(v.Name())
	}
	return fmt.Sprint(n)
}
