//! What the gateway reads from each protocol's bodies, on the examples of the protocols' own
//! documentation, and every way a body can be refused.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mlspec_gateway::protocol::{
    Body, Column, ExtractError, MAX_COLUMNS, MAX_VALUES, Protocol, Scalar, Table, inputs, outputs, request_id,
};
use proptest::prelude::*;
use serde_json::{Value, json};

fn n(value: f64) -> Scalar {
    Scalar::Number(value)
}

fn t(text: &str) -> Scalar {
    Scalar::Text(text.to_owned())
}

const M: Scalar = Scalar::Missing;

/// The table of these columns, `unreadable` values counted.
fn table(columns: &[(&str, &[Scalar])], unreadable: usize) -> Table {
    Table {
        rows: columns.first().map_or(0, |(_, values)| values.len()),
        columns: columns
            .iter()
            .map(|(name, values)| Column {
                name: (*name).to_owned(),
                values: values.to_vec(),
            })
            .collect(),
        unreadable,
    }
}

fn read_inputs(protocol: Protocol, body: &str) -> Result<Table, ExtractError> {
    inputs(protocol, &Body::new(body.as_bytes()), &[])
}

fn read_outputs(protocol: Protocol, body: &str) -> Result<Table, ExtractError> {
    outputs(protocol, &Body::new(body.as_bytes()))
}

/// The `Unexpected` error's pointer, or a description of another outcome.
fn pointer_of(result: Result<Table, ExtractError>) -> String {
    match result {
        Err(ExtractError::Unexpected { pointer, .. }) => pointer,
        other => format!("not an Unexpected error: {other:?}"),
    }
}

fn names(table: &Table) -> Vec<&str> {
    table.columns.iter().map(|column| column.name.as_str()).collect()
}

mod paths {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_none() {
        for name in ["oip", "tfserving", "mlflow", "json"] {
            assert_eq!(Protocol::from_name(name).map(Protocol::name), Some(name));
        }
        assert_eq!(Protocol::from_name("v2"), None);
    }

    #[test]
    fn inference_paths_name_their_protocol() {
        let cases = [
            ("/v2/models/iris/infer", Some(Protocol::Oip)),
            ("/v2/models/iris/versions/3/infer", Some(Protocol::Oip)),
            ("/v2/models/iris/infer?trace=1", Some(Protocol::Oip)),
            ("/v1/models/half_plus_three:predict", Some(Protocol::TfServing)),
            ("/v1/models/m/versions/123:predict", Some(Protocol::TfServing)),
            ("/v1/models/m/labels/stable:classify", Some(Protocol::TfServing)),
            ("/v1/models/m:regress", Some(Protocol::TfServing)),
            ("/invocations", Some(Protocol::Mlflow)),
            ("/v2/models/iris", None),
            ("/v2/models/iris/ready", None),
            ("/v2/models//infer", None),
            ("/v2/models/iris/versions/infer", None),
            ("/v2/health/ready", None),
            ("/v1/models/m", None),
            ("/v1/models/m/metadata", None),
            ("/v1/models/m:explain", None),
            ("/v1/models/m/tags/x:predict", None),
            ("/ping", None),
            ("/predict", None),
        ];
        for (path, protocol) in cases {
            assert_eq!(Protocol::detect(path), protocol, "{path}");
        }
    }

    #[test]
    fn only_posts_to_the_protocols_inference_path_are_monitored() {
        assert!(Protocol::Oip.is_inference("POST", "/v2/models/iris/infer"));
        assert!(!Protocol::Oip.is_inference("GET", "/v2/models/iris/infer"));
        assert!(!Protocol::Oip.is_inference("POST", "/invocations"));
        assert!(!Protocol::Mlflow.is_inference("GET", "/ping"));
        assert!(Protocol::TfServing.is_inference("post", "/v1/models/m:predict"));
        assert!(Protocol::Json.is_inference("POST", "/score"));
        assert!(!Protocol::Json.is_inference("GET", "/health"));
    }
}

mod oip {
    use super::*;

    /// kserve/open-inference-protocol specification/protocol/inference_rest.md, "Inference
    /// Request Examples", verbatim. Its BOOL input has shape [3] but one element: the spec's own
    /// example is refused, at the right place.
    const SPEC_REQUEST: &str = r#"{
      "id" : "42",
      "inputs" : [
        {
          "name" : "input0",
          "shape" : [ 2, 2 ],
          "datatype" : "UINT32",
          "data" : [ 1, 2, 3, 4 ]
        },
        {
          "name" : "input1",
          "shape" : [ 3 ],
          "datatype" : "BOOL",
          "data" : [ true ]
        }
      ],
      "outputs" : [
        {
          "name" : "output0"
        }
      ]
    }"#;

    #[test]
    fn the_specs_request_example_is_refused_for_its_element_count() {
        let error = read_inputs(Protocol::Oip, SPEC_REQUEST).unwrap_err();
        assert_eq!(
            error.to_string(),
            "at /inputs/1/data: expected 3 elements (the product of shape [3]), found 1"
        );
        assert_eq!(
            request_id(Protocol::Oip, SPEC_REQUEST.as_bytes()).as_deref(),
            Some("42")
        );
    }

    #[test]
    fn a_2d_tensor_is_a_column_per_feature() {
        // The spec example's first input alone.
        let body = r#"{"inputs": [{"name": "input0", "shape": [2, 2], "datatype": "UINT32",
                        "data": [1, 2, 3, 4]}]}"#;
        let expected = table(&[("input0_0", &[n(1.0), n(3.0)]), ("input0_1", &[n(2.0), n(4.0)])], 0);
        assert_eq!(read_inputs(Protocol::Oip, body).unwrap(), expected);
        let named = ["sepal".to_owned(), "petal".to_owned()];
        let table = inputs(Protocol::Oip, &Body::new(body.as_bytes()), &named).unwrap();
        assert_eq!(names(&table), ["sepal", "petal"]);
    }

    #[test]
    fn nested_data_is_flattened_row_major() {
        let body = r#"{"inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP32",
                        "data": [[1.5, 2.5], [3.5, null]]}]}"#;
        let expected = table(&[("x_0", &[n(1.5), n(3.5)]), ("x_1", &[n(2.5), M])], 0);
        assert_eq!(read_inputs(Protocol::Oip, body).unwrap(), expected);
    }

    /// The spec's response example, with the comma it lacks after `"id" : "42"` restored.
    #[test]
    fn the_specs_response_example() {
        let body = r#"{
          "id" : "42",
          "outputs" : [
            {
              "name" : "output0",
              "shape" : [ 3, 2 ],
              "datatype"  : "FP32",
              "data" : [ 1.0, 1.1, 2.0, 2.1, 3.0, 3.1 ]
            }
          ]
        }"#;
        let expected = table(
            &[
                ("output0_0", &[n(1.0), n(2.0), n(3.0)]),
                ("output0_1", &[n(1.1), n(2.1), n(3.1)]),
            ],
            0,
        );
        assert_eq!(read_outputs(Protocol::Oip, body).unwrap(), expected);
    }

    /// SeldonIO/MLServer docs/user-guide/content-type.md, "Usage": a pandas DataFrame, one input
    /// per column (the example's trailing comma removed).
    #[test]
    fn mlservers_pandas_codec_is_a_column_per_input() {
        let body = r#"{
          "parameters": {
            "content_type": "pd"
          },
          "inputs": [
            {
              "name": "First Name",
              "datatype": "BYTES",
              "parameters": {
                "content_type": "str"
              },
              "shape": [2],
              "data": ["Joanne", "Michael"]
            },
            {
              "name": "Age",
              "datatype": "INT32",
              "shape": [2],
              "data": [34, 22]
            }
          ]
        }"#;
        let expected = table(
            &[
                ("First Name", &[t("Joanne"), t("Michael")]),
                ("Age", &[n(34.0), n(22.0)]),
            ],
            0,
        );
        assert_eq!(read_inputs(Protocol::Oip, body).unwrap(), expected);
    }

    #[test]
    fn n_by_1_and_scalar_tensors_are_one_column() {
        let body = r#"{"inputs": [{"name": "a", "shape": [2, 1], "datatype": "BOOL", "data": [true, false]},
                                  {"name": "b", "shape": [2], "datatype": "BYTES", "data": ["x", {"no": 1}]}]}"#;
        let expected = table(
            &[("a", &[Scalar::Bool(true), Scalar::Bool(false)]), ("b", &[t("x"), M])],
            1,
        );
        assert_eq!(read_inputs(Protocol::Oip, body).unwrap(), expected);
        let scalar = r#"{"outputs": [{"name": "score", "shape": [], "datatype": "FP64", "data": [0.5]}]}"#;
        assert_eq!(
            read_outputs(Protocol::Oip, scalar).unwrap(),
            table(&[("score", &[n(0.5)])], 0)
        );
    }

    #[test]
    fn tensors_of_different_row_counts_are_refused() {
        let body = r#"{"inputs": [{"name": "a", "shape": [2], "datatype": "INT64", "data": [1, 2]},
                                  {"name": "b", "shape": [3], "datatype": "INT64", "data": [1, 2, 3]}]}"#;
        let error = read_inputs(Protocol::Oip, body).unwrap_err();
        assert_eq!(
            error.to_string(),
            "at /inputs/1/shape: expected 2 rows, as the first tensor has (shape [N, …]), found 3 rows"
        );
    }

    #[test]
    fn bad_shapes_are_refused_where_they_are() {
        let cases = [
            (
                r#"{"inputs": [{"name": "img", "shape": [1, 2, 2], "data": [1, 2, 3, 4]}]}"#,
                "/inputs/0/shape",
            ),
            (
                r#"{"inputs": [{"name": "a", "shape": [-1], "data": [1]}]}"#,
                "/inputs/0/shape",
            ),
            (
                r#"{"inputs": [{"name": "a", "shape": "2", "data": [1, 2]}]}"#,
                "/inputs/0/shape",
            ),
            (r#"{"inputs": [{"name": "a", "data": [1]}]}"#, "/inputs/0/shape"),
            (r#"{"inputs": [{"shape": [1], "data": [1]}]}"#, "/inputs/0/name"),
            (r#"{"inputs": [{"name": "a", "shape": [1]}]}"#, "/inputs/0/data"),
            (
                r#"{"inputs": [{"name": "a", "shape": [2, 2], "data": [1, 2, 3]}]}"#,
                "/inputs/0/data",
            ),
            (r#"{"inputs": {"name": "a"}}"#, ""),
            (r#"[1, 2]"#, ""),
        ];
        for (body, pointer) in cases {
            assert_eq!(pointer_of(read_inputs(Protocol::Oip, body)), pointer, "{body}");
        }
        let negative = read_inputs(Protocol::Oip, cases[1].0).unwrap_err();
        assert_eq!(
            negative.to_string(),
            "at /inputs/0/shape: expected a list of non-negative integers, found the dimension -1"
        );
        let wrong = read_inputs(Protocol::Oip, cases[0].0).unwrap_err();
        assert_eq!(
            wrong.to_string(),
            "at /inputs/0/shape: expected a tabular shape: [N], [N, 1] or [N, F], found 3 dimensions"
        );
    }

    #[test]
    fn an_answer_without_outputs_is_refused() {
        let error = read_outputs(Protocol::Oip, r#"{"error": "model not found"}"#).unwrap_err();
        assert_eq!(
            error.to_string(),
            "at the top of the body: expected an object with an `outputs` list of tensors, found an object"
        );
    }

    #[test]
    fn the_request_id_is_read_from_oip_only() {
        assert_eq!(request_id(Protocol::Oip, br#"{"inputs": []}"#), None);
        assert_eq!(request_id(Protocol::Oip, br#"{"id": 7}"#), None);
        assert_eq!(request_id(Protocol::Oip, b"not json"), None);
        assert_eq!(request_id(Protocol::Json, br#"{"id": "42"}"#), None);
        assert_eq!(
            request_id(Protocol::Oip, b"{\"id\": \"r-1\"}\x01\x00\xff").as_deref(),
            Some("r-1")
        );
    }
}

mod binary {
    use super::*;

    /// A body of the binary tensor extension: the JSON header, then the tensors' bytes.
    fn binary_body(header: &Value, tensors: &[&[u8]]) -> (Vec<u8>, usize) {
        let mut bytes = serde_json::to_vec(header).unwrap();
        let length = bytes.len();
        for tensor in tensors {
            bytes.extend_from_slice(tensor);
        }
        (bytes, length)
    }

    fn with_header(bytes: &[u8], length: usize) -> Body<'_> {
        Body {
            bytes,
            content_type: Some("application/octet-stream"),
            inference_header_length: Some(length),
        }
    }

    fn bytes_elements(elements: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for element in elements {
            out.extend_from_slice(&u32::try_from(element.len()).unwrap().to_le_bytes());
            out.extend_from_slice(element);
        }
        out
    }

    #[test]
    fn binary_tensors_round_trip_with_json_ones() {
        let fp32: Vec<u8> = [1.5f32, -2.0, 0.25, 8.0, f32::NAN, 3.0]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        let names = bytes_elements(&[b"ada", b"", b"\xff\xfe"]);
        let flags = [1u8, 0, 1];
        let ints: Vec<u8> = [-1i64, 2, 3].iter().flat_map(|x| x.to_le_bytes()).collect();
        let half: Vec<u8> = [0x3c00u16, 0xc000, 0x7c00]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        let header = json!({
            "id": "bin-1",
            "inputs": [
                {"name": "x", "shape": [3, 2], "datatype": "FP32", "parameters": {"binary_data_size": fp32.len()}},
                {"name": "who", "shape": [3], "datatype": "BYTES", "parameters": {"binary_data_size": names.len()}},
                {"name": "json", "shape": [3], "datatype": "INT8", "data": [7, 8, 9]},
                {"name": "flag", "shape": [3, 1], "datatype": "BOOL", "parameters": {"binary_data_size": 3}},
                {"name": "i", "shape": [3], "datatype": "INT64", "parameters": {"binary_data_size": ints.len()}},
                {"name": "h", "shape": [3], "datatype": "FP16", "parameters": {"binary_data_size": half.len()}}
            ]
        });
        let (bytes, length) = binary_body(&header, &[&fp32, &names, &flags, &ints, &half]);
        let read = inputs(Protocol::Oip, &with_header(&bytes, length), &[]).unwrap();
        let expected = table(
            &[
                ("x_0", &[n(1.5), n(0.25), M]),
                ("x_1", &[n(-2.0), n(8.0), n(3.0)]),
                ("who", &[t("ada"), t(""), M]),
                ("json", &[n(7.0), n(8.0), n(9.0)]),
                ("flag", &[Scalar::Bool(true), Scalar::Bool(false), Scalar::Bool(true)]),
                ("i", &[n(-1.0), n(2.0), n(3.0)]),
                ("h", &[n(1.0), n(-2.0), n(f64::INFINITY)]),
            ],
            1,
        );
        assert_eq!(read, expected);
        assert_eq!(request_id(Protocol::Oip, &bytes).as_deref(), Some("bin-1"));
    }

    /// triton-inference-server/server docs/protocol/extension_binary_data.md: the example
    /// response, a [3, 2] FP32 tensor of 24 bytes.
    #[test]
    fn tritons_response_example() {
        let header = json!({"outputs": [{"name": "output0", "shape": [3, 2], "datatype": "FP32",
                                         "parameters": {"binary_data_size": 24}}]});
        let data: Vec<u8> = [1.0f32, 1.5, 2.0, 2.5, 3.0, 3.5]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        let (bytes, length) = binary_body(&header, &[&data]);
        let expected = table(
            &[
                ("output0_0", &[n(1.0), n(2.0), n(3.0)]),
                ("output0_1", &[n(1.5), n(2.5), n(3.5)]),
            ],
            0,
        );
        assert_eq!(outputs(Protocol::Oip, &with_header(&bytes, length)).unwrap(), expected);
    }

    /// The same document's request example: its two inputs have 2 and 3 rows, so it is not one
    /// table; the binary data itself decodes.
    #[test]
    fn tritons_request_example_is_not_one_table() {
        let header = json!({
          "model_name" : "mymodel",
          "inputs" : [
            {"name" : "input0", "shape" : [ 2, 2 ], "datatype" : "UINT32", "parameters" : {"binary_data_size" : 16}},
            {"name" : "input1", "shape" : [ 3 ], "datatype" : "BOOL", "parameters" : {"binary_data_size" : 3}}
          ],
          "outputs" : [{"name" : "output0", "parameters" : {"binary_data" : true}}]
        });
        let data: Vec<u8> = [1u32, 2, 3, 4].iter().flat_map(|x| x.to_le_bytes()).collect();
        let (bytes, length) = binary_body(&header, &[&data, &[1, 0, 1]]);
        let body = with_header(&bytes, length);
        assert_eq!(pointer_of(inputs(Protocol::Oip, &body, &[])), "/inputs/1/shape");
    }

    #[test]
    fn malformed_binary_data_is_refused_where_it_is_announced() {
        let size = "/inputs/0/parameters/binary_data_size";
        let tensor = |datatype: &str, shape: Value, size: usize| {
            json!({"inputs": [{"name": "a", "shape": shape, "datatype": datatype,
                               "parameters": {"binary_data_size": size}}]})
        };
        let cases: [(Value, Vec<u8>, &str); 7] = [
            // Fewer bytes than announced.
            (tensor("FP32", json!([2]), 8), vec![0; 5], size),
            // Not a whole number of elements.
            (tensor("FP32", json!([2]), 6), vec![0; 6], size),
            // Announced size fits, shape does not.
            (tensor("FP64", json!([3]), 16), vec![0; 16], "/inputs/0/data"),
            // A BYTES element longer than the data.
            (
                tensor("BYTES", json!([1]), 6),
                bytes_elements(&[b"abcdef"])[..6].to_vec(),
                size,
            ),
            (tensor("COMPLEX64", json!([1]), 8), vec![0; 8], "/inputs/0/datatype"),
            (
                json!({"inputs": [{"name": "a", "shape": [1], "parameters": {"binary_data_size": 1}}]}),
                vec![1],
                "/inputs/0/datatype",
            ),
            (
                json!({"inputs": [{"name": "a", "shape": [1], "datatype": "BOOL", "parameters": {"binary_data_size": -1}}]}),
                vec![1],
                size,
            ),
        ];
        for (header, data, pointer) in cases {
            let (bytes, length) = binary_body(&header, &[&data]);
            assert_eq!(
                pointer_of(inputs(Protocol::Oip, &with_header(&bytes, length), &[])),
                pointer,
                "{header}"
            );
        }
    }

    #[test]
    fn binary_data_needs_the_header_and_the_header_needs_its_bytes() {
        let header = json!({"inputs": [{"name": "a", "shape": [1], "datatype": "BOOL",
                                        "parameters": {"binary_data_size": 1}}]});
        let (bytes, length) = binary_body(&header, &[&[1]]);
        let without = Body::new(&bytes[..length]);
        let error = inputs(Protocol::Oip, &without, &[]).unwrap_err();
        assert!(error.to_string().contains("Inference-Header-Content-Length"), "{error}");
        let beyond = with_header(&bytes, bytes.len() + 1);
        assert_eq!(pointer_of(inputs(Protocol::Oip, &beyond, &[])), "");
        // Without the header, binary data after the JSON is not JSON.
        assert!(matches!(
            inputs(Protocol::Oip, &Body::new(&bytes), &[]),
            Err(ExtractError::NotJson(_))
        ));
    }
}

mod tfserving {
    use super::*;

    // Request examples from tensorflow/serving tensorflow_serving/g3doc/api_rest.md, "Predict
    // API" → "Specifying input tensors in row format" / "… in column format".

    #[test]
    fn scalar_instances_are_the_column_input() {
        // "List of 3 scalar tensors" (the example's JavaScript comment left out).
        let body = r#"{
          "instances": [ "foo", "bar", "baz" ]
        }"#;
        let expected = table(&[("input", &[t("foo"), t("bar"), t("baz")])], 0);
        assert_eq!(read_inputs(Protocol::TfServing, body).unwrap(), expected);
    }

    #[test]
    fn tensor_instances_are_unreadable_cells() {
        // "List of 2 tensors each of [1, 2] shape".
        let body = r#"{"instances": [ [[1, 2]], [[3, 4]] ]}"#;
        assert_eq!(
            read_inputs(Protocol::TfServing, body).unwrap(),
            table(&[("input_0", &[M, M])], 2)
        );
    }

    /// The row-format example (its stray `]` after the second `signal` removed).
    #[test]
    fn named_instances_are_a_column_per_name() {
        let body = r#"{
         "instances": [
           {
             "tag": "foo",
             "signal": [1, 2, 3, 4, 5],
             "sensor": [[1, 2], [3, 4]]
           },
           {
             "tag": "bar",
             "signal": [3, 4, 1, 2, 5],
             "sensor": [[4, 5], [6, 8]]
           }
         ]
        }"#;
        let expected = table(
            &[("tag", &[t("foo"), t("bar")]), ("signal", &[M, M]), ("sensor", &[M, M])],
            4,
        );
        assert_eq!(read_inputs(Protocol::TfServing, body).unwrap(), expected);
    }

    #[test]
    fn the_columnar_format_is_read_the_same() {
        let body = r#"{
         "inputs": {
           "tag": ["foo", "bar"],
           "signal": [[1, 2, 3, 4, 5], [3, 4, 1, 2, 5]],
           "sensor": [[[1, 2], [3, 4]], [[4, 5], [6, 8]]]
         }
        }"#;
        let expected = table(
            &[("tag", &[t("foo"), t("bar")]), ("signal", &[M, M]), ("sensor", &[M, M])],
            4,
        );
        assert_eq!(read_inputs(Protocol::TfServing, body).unwrap(), expected);
    }

    /// "Encoding binary values": the classify example with a `b64` image.
    #[test]
    fn b64_values_are_counted_unreadable() {
        let body = r#"{
          "signature_name": "classify_objects",
          "examples": [
            {
              "image": { "b64": "aW1hZ2UgYnl0ZXM=" },
              "caption": "seaside"
            },
            {
              "image": { "b64": "YXdlc29tZSBpbWFnZSBieXRlcw==" },
              "caption": "mountains"
            }
          ]
        }"#;
        let expected = table(&[("image", &[M, M]), ("caption", &[t("seaside"), t("mountains")])], 2);
        assert_eq!(read_inputs(Protocol::TfServing, body).unwrap(), expected);
    }

    /// The "Example" section: half_plus_three's predict and regress calls.
    #[test]
    fn the_half_plus_three_example() {
        let predict = r#"{"instances": [1.0,2.0,5.0]}"#;
        assert_eq!(
            read_inputs(Protocol::TfServing, predict).unwrap(),
            table(&[("input", &[n(1.0), n(2.0), n(5.0)])], 0)
        );
        let answer = r#"{
            "predictions": [3.5, 4.0, 5.5]
        }"#;
        assert_eq!(
            read_outputs(Protocol::TfServing, answer).unwrap(),
            table(&[("prediction", &[n(3.5), n(4.0), n(5.5)])], 0)
        );
        let regress = r#"{"signature_name": "tensorflow/serving/regress", "examples": [{"x": 1.0}, {"x": 2.0}]}"#;
        assert_eq!(
            read_inputs(Protocol::TfServing, regress).unwrap(),
            table(&[("x", &[n(1.0), n(2.0)])], 0)
        );
        let results = r#"{
            "results": [3.5, 4.0]
        }"#;
        assert_eq!(
            read_outputs(Protocol::TfServing, results).unwrap(),
            table(&[("prediction", &[n(3.5), n(4.0)])], 0)
        );
    }

    #[test]
    fn list_rows_are_named_by_position_or_by_the_operator() {
        let body = r#"{"instances": [[5.1, 3.5, "setosa"], [4.9, [3.0]]]}"#;
        let expected = table(
            &[
                ("input_0", &[n(5.1), n(4.9)]),
                ("input_1", &[n(3.5), n(3.0)]),
                ("input_2", &[t("setosa"), M]),
            ],
            0,
        );
        assert_eq!(read_inputs(Protocol::TfServing, body).unwrap(), expected);
        let named = ["sepal_length".to_owned(), "sepal_width".to_owned()];
        let table = inputs(Protocol::TfServing, &Body::new(body.as_bytes()), &named).unwrap();
        assert_eq!(names(&table), ["sepal_length", "sepal_width", "input_2"]);
    }

    #[test]
    fn answers_name_their_columns_by_shape() {
        let lists = r#"{"predictions": [[0.1, 0.9], [0.8, 0.2]]}"#;
        let expected = table(
            &[("prediction_0", &[n(0.1), n(0.8)]), ("prediction_1", &[n(0.9), n(0.2)])],
            0,
        );
        assert_eq!(read_outputs(Protocol::TfServing, lists).unwrap(), expected);
        let objects = r#"{"predictions": [{"label": "cat", "score": 0.9}, {"label": "dog"}]}"#;
        let expected = table(&[("label", &[t("cat"), t("dog")]), ("score", &[n(0.9), M])], 0);
        assert_eq!(read_outputs(Protocol::TfServing, objects).unwrap(), expected);
        let columnar = r#"{"outputs": {"label": ["cat", "dog"], "score": [0.9, 0.4]}}"#;
        let expected = table(&[("label", &[t("cat"), t("dog")]), ("score", &[n(0.9), n(0.4)])], 0);
        assert_eq!(read_outputs(Protocol::TfServing, columnar).unwrap(), expected);
    }

    #[test]
    fn malformed_bodies_are_refused_where_they_are() {
        let cases = [
            (r#"{"instances": [1], "inputs": {"a": [1]}}"#, ""),
            (r#"{"signature_name": "serving_default"}"#, ""),
            (r#"{"instances": {"a": 1}}"#, "/instances"),
            (r#"{"instances": [{"a": 1}, [1]]}"#, "/instances/1"),
            (r#"{"inputs": {"a": [1, 2], "b": [1, 2, 3]}}"#, "/inputs/b"),
            (r#"{"inputs": {"a/b": [1, 2], "c~": [1]}}"#, "/inputs/c~0"),
        ];
        for (body, pointer) in cases {
            assert_eq!(pointer_of(read_inputs(Protocol::TfServing, body)), pointer, "{body}");
        }
        let both = read_inputs(Protocol::TfServing, cases[0].0).unwrap_err();
        assert_eq!(
            both.to_string(),
            "at the top of the body: expected an object with exactly one of `instances`, `inputs`, `examples`, found both `instances` and `inputs`"
        );
        let mixed = read_inputs(Protocol::TfServing, cases[4].0).unwrap_err();
        assert_eq!(
            mixed.to_string(),
            "at /inputs/b: expected 2 values, as many as `a` has (one per row), found 3"
        );
        assert_eq!(
            pointer_of(read_outputs(Protocol::TfServing, r#"{"error": "Servable not found"}"#)),
            ""
        );
    }
}

mod mlflow {
    use super::*;

    // Request examples from mlflow/mlflow mlflow/models/cli.py, the help of
    // `mlflow models serve`.

    fn abc() -> Table {
        table(&[("a", &[n(1.0), n(3.0), n(5.0)]), ("b", &[n(2.0), n(4.0), n(6.0)])], 0)
    }

    #[test]
    fn records_orientation() {
        let body = r#"{         "dataframe_records": [{"a":1, "b":2},
      {"a":3, "b":4}, {"a":5, "b":6}]     }"#;
        assert_eq!(read_inputs(Protocol::Mlflow, body).unwrap(), abc());
    }

    #[test]
    fn split_orientation() {
        let body = r#"{         "dataframe_split": {"columns": ["a",
      "b"],                             "index": [0, 1, 2],
      "data": [[1, 2], [3, 4], [5, 6]]}     }"#;
        assert_eq!(read_inputs(Protocol::Mlflow, body).unwrap(), abc());
    }

    #[test]
    fn inputs_as_a_list_of_rows_and_as_columns() {
        let body = r#"{         "inputs": [[1, 2], [3, 4], [5, 6]]
      }"#;
        let named = ["a".to_owned(), "b".to_owned()];
        assert_eq!(
            inputs(Protocol::Mlflow, &Body::new(body.as_bytes()), &named).unwrap(),
            abc()
        );
        let unnamed = read_inputs(Protocol::Mlflow, body).unwrap();
        assert_eq!(names(&unnamed), ["input_0", "input_1"]);
        let columns = r#"{"inputs": {"a": [1, 3, 5], "b": [2, 4, 6]}, "params": {"k": 1}}"#;
        assert_eq!(read_inputs(Protocol::Mlflow, columns).unwrap(), abc());
    }

    #[test]
    fn instances_as_tf_serving_rows() {
        let body = r#"{         "instances": [             {"a": "t1", "b": [1, 2, 3]},
      {"a": "t2", "b": [4, 5, 6]},             {"a": "t3", "b": [7, 8, 9]}
      ]     }"#;
        let expected = table(&[("a", &[t("t1"), t("t2"), t("t3")]), ("b", &[M, M, M])], 3);
        assert_eq!(read_inputs(Protocol::Mlflow, body).unwrap(), expected);
    }

    #[test]
    fn csv_bodies_have_a_header_row() {
        // As pandas.DataFrame.to_csv(index=False) writes it, with a quoted field and a gap.
        let csv = "a,b,city,ok\r\n1,2.5,\"Paris, TX\",True\r\n3,,\"say \"\"hi\"\"\",false\r\n5,NaN,x\n";
        let body = Body {
            bytes: csv.as_bytes(),
            content_type: Some("text/csv; charset=utf-8"),
            inference_header_length: None,
        };
        let expected = table(
            &[
                ("a", &[n(1.0), n(3.0), n(5.0)]),
                ("b", &[n(2.5), M, M]),
                ("city", &[t("Paris, TX"), t("say \"hi\""), t("x")]),
                ("ok", &[Scalar::Bool(true), Scalar::Bool(false), M]),
            ],
            0,
        );
        assert_eq!(inputs(Protocol::Mlflow, &body, &[]).unwrap(), expected);
        let blank_lines = Body {
            bytes: b"a,b\n\n1,2\r\n\r\n",
            content_type: Some("text/csv"),
            inference_header_length: None,
        };
        let expected = table(&[("a", &[n(1.0)]), ("b", &[n(2.0)])], 0);
        assert_eq!(inputs(Protocol::Mlflow, &blank_lines, &[]).unwrap(), expected);
        let unterminated = Body {
            bytes: b"a,b\n1,x",
            content_type: Some("text/csv"),
            inference_header_length: None,
        };
        let expected = table(&[("a", &[n(1.0)]), ("b", &[t("x")])], 0);
        assert_eq!(inputs(Protocol::Mlflow, &unterminated, &[]).unwrap(), expected);
        let empty = Body {
            bytes: b"",
            content_type: Some("text/csv"),
            inference_header_length: None,
        };
        assert_eq!(inputs(Protocol::Mlflow, &empty, &[]).unwrap(), Table::default());
    }

    #[test]
    fn malformed_csv_is_refused_by_record() {
        let csv = |bytes: &'static [u8]| Body {
            bytes,
            content_type: Some("text/csv"),
            inference_header_length: None,
        };
        let long = inputs(Protocol::Mlflow, &csv(b"a,b\n1,2\n1,2,3\n"), &[]).unwrap_err();
        assert_eq!(long.to_string(), "CSV record 3: 3 fields, more than the header's 2");
        let binary = inputs(Protocol::Mlflow, &csv(b"a\n\xff\n"), &[]).unwrap_err();
        assert_eq!(binary.to_string(), "CSV record 2: a field that is not UTF-8 text");
        let twice = inputs(Protocol::Mlflow, &csv(b"a,a\n1,2\n"), &[]).unwrap_err();
        assert!(twice.to_string().contains("`a` twice"), "{twice}");
    }

    #[test]
    fn answers() {
        let scalars = r#"{"predictions": [1, 0]}"#;
        assert_eq!(
            read_outputs(Protocol::Mlflow, scalars).unwrap(),
            table(&[("prediction", &[n(1.0), n(0.0)])], 0)
        );
        let bare = "[0.2, 0.7]";
        assert_eq!(
            read_outputs(Protocol::Mlflow, bare).unwrap(),
            table(&[("prediction", &[n(0.2), n(0.7)])], 0)
        );
        let records = r#"{"predictions": [{"class": "CLASS_A", "score": 0.95}]}"#;
        assert_eq!(
            read_outputs(Protocol::Mlflow, records).unwrap(),
            table(&[("class", &[t("CLASS_A")]), ("score", &[n(0.95)])], 0)
        );
        let columns = r#"{"predictions": {"class": ["x", "y"], "score": [0.1, 0.2]}}"#;
        assert_eq!(
            names(&read_outputs(Protocol::Mlflow, columns).unwrap()),
            ["class", "score"]
        );
        assert_eq!(
            pointer_of(read_outputs(Protocol::Mlflow, r#"{"error_code": "BAD_REQUEST"}"#)),
            ""
        );
    }

    #[test]
    fn malformed_bodies_are_refused_where_they_are() {
        let cases = [
            (
                r#"{"dataframe_split": {"columns": ["a"], "data": [[1]]}, "instances": [1]}"#,
                "",
            ),
            (r#"[{"a": 1}]"#, ""),
            (
                r#"{"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2], [3]]}}"#,
                "/dataframe_split/data/1",
            ),
            (r#"{"dataframe_split": {"columns": ["a"]}}"#, "/dataframe_split/data"),
            (
                r#"{"dataframe_split": {"columns": "a", "data": [[1]]}}"#,
                "/dataframe_split/columns",
            ),
            (r#"{"dataframe_records": {"a": 1}}"#, "/dataframe_records"),
            (
                r#"{"dataframe_split": {"columns": ["a", "a"], "data": [[1, 2]]}}"#,
                "/dataframe_split/data",
            ),
        ];
        for (body, pointer) in cases {
            assert_eq!(pointer_of(read_inputs(Protocol::Mlflow, body)), pointer, "{body}");
        }
        let short = read_inputs(Protocol::Mlflow, cases[2].0).unwrap_err();
        assert_eq!(
            short.to_string(),
            "at /dataframe_split/data/1: expected 2 values, one per column, found 1"
        );
    }

    #[test]
    fn split_columns_may_be_numbers_as_pandas_allows() {
        let body = r#"{"dataframe_split": {"columns":[0],"index":[0,1,2],"data":[[1],[-1], [3]]}}"#;
        assert_eq!(
            read_inputs(Protocol::Mlflow, body).unwrap(),
            table(&[("0", &[n(1.0), n(-1.0), n(3.0)])], 0)
        );
    }
}

mod plain_json {
    use super::*;

    #[test]
    fn objects_are_rows_wrapped_or_not() {
        let expected = table(&[("age", &[n(34.0), n(22.0)]), ("city", &[t("Oslo"), M])], 0);
        let bodies = [
            r#"[{"age": 34, "city": "Oslo"}, {"age": 22}]"#,
            r#"{"rows": [{"age": 34, "city": "Oslo"}, {"age": 22}], "model": "v3", "tags": []}"#,
            r#"{"data": [{"age": 34, "city": "Oslo"}, {"age": 22, "city": null}]}"#,
        ];
        for body in bodies {
            assert_eq!(read_inputs(Protocol::Json, body).unwrap(), expected, "{body}");
        }
        let one = r#"{"age": 34, "city": "Oslo", "extra": {"nested": true}}"#;
        let expected = table(&[("age", &[n(34.0)]), ("city", &[t("Oslo")]), ("extra", &[M])], 1);
        assert_eq!(read_inputs(Protocol::Json, one).unwrap(), expected);
    }

    #[test]
    fn two_lists_of_objects_make_the_object_one_row() {
        let body = r#"{"a": [{"x": 1}], "b": [{"x": 2}]}"#;
        assert_eq!(
            read_inputs(Protocol::Json, body).unwrap(),
            table(&[("a", &[M]), ("b", &[M])], 2)
        );
    }

    #[test]
    fn bare_values_are_one_prediction() {
        assert_eq!(
            read_outputs(Protocol::Json, "0.87").unwrap(),
            table(&[("prediction", &[n(0.87)])], 0)
        );
        assert_eq!(
            read_outputs(Protocol::Json, r#""spam""#).unwrap(),
            table(&[("prediction", &[t("spam")])], 0)
        );
        assert_eq!(
            read_inputs(Protocol::Json, "3").unwrap(),
            table(&[("input", &[n(3.0)])], 0)
        );
        assert_eq!(read_outputs(Protocol::Json, "[]").unwrap(), Table::default());
    }

    #[test]
    fn not_json_is_refused() {
        for protocol in [Protocol::Oip, Protocol::TfServing, Protocol::Mlflow, Protocol::Json] {
            let error = read_inputs(protocol, "age=34").unwrap_err();
            assert!(matches!(error, ExtractError::NotJson(_)), "{protocol:?}: {error}");
            assert!(error.to_string().starts_with("the body is not JSON ("), "{error}");
        }
    }
}

mod limits {
    use super::*;

    fn is_too_large(result: Result<Table, ExtractError>, what: &str) -> bool {
        matches!(result, Err(ExtractError::TooLarge { what: found, .. }) if found == what)
    }

    #[test]
    fn a_tensor_beyond_the_value_limit_is_refused_before_it_is_read() {
        let shape = format!(
            r#"{{"inputs": [{{"name": "a", "shape": [{}], "data": []}}]}}"#,
            MAX_VALUES + 1
        );
        let error = read_inputs(Protocol::Oip, &shape).unwrap_err();
        assert_eq!(
            error.to_string(),
            "at /inputs/0/shape: more than 1000000 values; the gateway does not monitor bodies that large"
        );
        let overflow = r#"{"inputs": [{"name": "a", "shape": [4294967296, 4294967296], "data": []}]}"#;
        assert!(is_too_large(read_inputs(Protocol::Oip, overflow), "values"));
        let wide = format!(
            r#"{{"inputs": [{{"name": "a", "shape": [0, {}], "data": []}}]}}"#,
            MAX_COLUMNS + 1
        );
        assert!(is_too_large(read_inputs(Protocol::Oip, &wide), "columns"));
    }

    #[test]
    fn too_many_columns_are_refused() {
        let keys: Vec<String> = (0..=MAX_COLUMNS).map(|j| format!(r#""k{j}": 1"#)).collect();
        let object = format!("{{{}}}", keys.join(","));
        assert!(is_too_large(read_inputs(Protocol::Json, &object), "columns"));
        let row = format!("[[{}]]", vec!["1"; MAX_COLUMNS + 1].join(","));
        assert!(is_too_large(read_inputs(Protocol::Json, &row), "columns"));
        let header = vec!["c"; MAX_COLUMNS + 1].join(",");
        let csv = Body {
            bytes: header.as_bytes(),
            content_type: Some("text/csv"),
            inference_header_length: None,
        };
        let error = inputs(Protocol::Mlflow, &csv, &[]).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("CSV record 1: more than {MAX_COLUMNS} fields")
        );
    }

    /// Sparse rows would multiply a small body into a large table: the product is refused.
    #[test]
    fn sparse_rows_beyond_the_value_limit_are_refused() {
        let mut rows = vec![r#"{"a": 1, "b": 2}"#; 1];
        rows.extend(vec!["{}"; MAX_VALUES / 2]);
        let body = format!("[{}]", rows.join(","));
        assert!(is_too_large(read_inputs(Protocol::Json, &body), "values"));
        let csv = format!("a,b\n{}", "1\n".repeat(MAX_VALUES / 2 + 1));
        let csv = Body {
            bytes: csv.as_bytes(),
            content_type: Some("text/csv"),
            inference_header_length: None,
        };
        assert!(is_too_large(inputs(Protocol::Mlflow, &csv, &[]), "values"));
    }
}

/// Any JSON value, with the protocols' own keys likely, so bodies reach deep into each reader.
fn any_json() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("inputs".to_owned()),
        Just("outputs".to_owned()),
        Just("instances".to_owned()),
        Just("predictions".to_owned()),
        Just("dataframe_split".to_owned()),
        Just("dataframe_records".to_owned()),
        Just("columns".to_owned()),
        Just("data".to_owned()),
        Just("shape".to_owned()),
        Just("name".to_owned()),
        Just("datatype".to_owned()),
        Just("parameters".to_owned()),
        Just("binary_data_size".to_owned()),
        "[a-z/~]{0,3}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (0u64..6).prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop_oneof![Just("BYTES"), Just("FP16"), Just("BOOL"), Just("INT32"), Just("x")].prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..6)
                .prop_map(|members| Value::Object(members.into_iter().collect())),
        ]
    })
}

const PROTOCOLS: [Protocol; 4] = [Protocol::Oip, Protocol::TfServing, Protocol::Mlflow, Protocol::Json];

/// Reads `bytes` every way; any outcome but a panic is fine, and a table is always rectangular.
fn read_every_way(bytes: &[u8], header: Option<usize>) {
    for protocol in PROTOCOLS {
        for content_type in [None, Some("text/csv")] {
            let body = Body {
                bytes,
                content_type,
                inference_header_length: header,
            };
            for table in [inputs(protocol, &body, &["c".to_owned()]), outputs(protocol, &body)]
                .into_iter()
                .flatten()
            {
                assert!(table.columns.iter().all(|column| column.values.len() == table.rows));
                assert!(table.rows * table.columns.len() <= MAX_VALUES);
            }
        }
        let _ = request_id(protocol, bytes);
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256), header in prop::option::of(0usize..300)) {
        read_every_way(&bytes, header);
    }

    #[test]
    fn arbitrary_json_never_panics(value in any_json(), tail in prop::collection::vec(any::<u8>(), 0..64)) {
        let mut bytes = serde_json::to_vec(&value).unwrap();
        read_every_way(&bytes, None);
        let length = bytes.len();
        bytes.extend(tail);
        read_every_way(&bytes, Some(length));
    }
}
