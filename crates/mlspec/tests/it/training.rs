//! `mlspec training record-conversion` / `record-compression`: a real scikit-learn model
//! converted with skl2onnx, the ONNX file checked with `onnx.checker` and run with onnx's own
//! reference evaluator, and the conversion recorded with its prediction check.

use std::path::Path;

use super::store::mlspec;

fn reference_python() -> String {
    std::env::var("MLSPEC_INTEROP_PYTHON")
        .expect("MLSPEC_INTEROP_PYTHON is not set: run the suite with scripts/test, which installs scikit-learn, skl2onnx and onnx")
}

/// Trains a logistic regression, writes model.pkl, before.csv (its predictions), model.onnx
/// (skl2onnx, checked by onnx.checker) and after.csv (the ONNX model's predictions, from onnx's
/// reference evaluator) in `dir`; returns skl2onnx's version.
fn convert_a_model(dir: &Path) -> String {
    let script = r#"
import pickle, numpy as np, onnx, skl2onnx
from onnx.reference import ReferenceEvaluator
from skl2onnx import to_onnx
from sklearn.linear_model import LogisticRegression
rng = np.random.default_rng(7)
X = rng.normal(size=(300, 4))
y = (X[:, 0] + 0.5 * X[:, 1] - X[:, 3] > 0).astype(int)
model = LogisticRegression().fit(X, y)
pickle.dump(model, open("model.pkl", "wb"))
def write(path, labels, probabilities):
    with open(path, "w") as f:
        f.write("label,p1\n")
        for label, p in zip(labels, probabilities):
            f.write(f"{int(label)},{float(p):.17g}\n")
write("before.csv", model.predict(X), model.predict_proba(X)[:, 1])
converted = to_onnx(model, X[:1].astype(np.float32), options={"zipmap": False})
onnx.checker.check_model(converted)
onnx.save(converted, "model.onnx")
labels, probabilities = ReferenceEvaluator(converted).run(None, {"X": X.astype(np.float32)})
write("after.csv", labels, probabilities[:, 1])
print(skl2onnx.__version__)
"#;
    let out = std::process::Command::new(reference_python())
        .current_dir(dir)
        .args(["-c", script])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn sha256(path: &Path) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(std::fs::read(path).unwrap()))
}

/// A run, its model Artifact (model.pkl) and the Training document that names it.
fn record_training(dir: &Path) {
    let size = std::fs::metadata(dir.join("model.pkl")).unwrap().len();
    let documents = format!(
        "apiVersion: mlspec/v1\nkind: Dataset\nmetadata: {{name: points}}\nspec: {{versions: [{{version: \"1\", definition: {{datastore: local, path: points.csv}}}}]}}\n---\n\
         apiVersion: mlspec/v1\nkind: Run\nmetadata: {{name: train}}\nspec: {{status: Finished, startTime: 2026-01-01T00:00:00Z, endTime: 2026-01-01T01:00:00Z}}\n---\n\
         apiVersion: mlspec/v1\nkind: Artifact\nmetadata: {{name: model}}\nspec: {{run: Run/train, type: model, path: {{datastore: local, path: model.pkl}}, digest: \"sha256:{}\", size: {size}, mediaType: application/octet-stream}}\n---\n\
         apiVersion: mlspec/v1\nkind: Training\nmetadata: {{name: logreg}}\nspec: {{run: Run/train, datasets: [Dataset/points@1], model: Artifact/model, framework: scikit-learn}}\n",
        sha256(&dir.join("model.pkl"))
    );
    std::fs::write(dir.join("training.yaml"), documents).unwrap();
    let applied = mlspec(dir, &["apply", "training.yaml"]);
    assert_eq!(applied.code, 0, "{}", applied.stderr);
}

fn training(dir: &Path) -> serde_json::Value {
    let out = mlspec(dir, &["get", "Training/logreg", "-o", "json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    serde_json::from_str::<serde_json::Value>(&out.stdout).unwrap()["spec"].clone()
}

#[test]
fn an_onnx_conversion_is_recorded_with_its_prediction_check() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    assert_eq!(mlspec(dir, &["init"]).code, 0);
    let version = convert_a_model(dir);
    record_training(dir);
    let tool = format!("skl2onnx {version}");
    let args = [
        "training",
        "record-conversion",
        "--model",
        "Artifact/model",
        "--converted",
        "model.onnx",
        "--format",
        "onnx",
        "--tool",
        &tool,
        "--compare",
        "before.csv",
        "after.csv",
        "--tolerance",
        "1e-5",
    ];
    let out = mlspec(dir, &args);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let spec = training(dir);
    let conversion = &spec["conversions"][0];
    assert_eq!(conversion["format"], "onnx");
    assert_eq!(conversion["tool"], tool);
    assert_eq!(conversion["output"], "Artifact/model-onnx");
    let checks = conversion["validation"].as_array().unwrap();
    let max_abs = checks.iter().find(|c| c["metric"] == "max_abs_diff").unwrap();
    assert_eq!(max_abs["passed"], true);
    let difference = max_abs["after"].as_f64().unwrap();
    assert!(
        difference > 0.0 && difference <= 1e-5,
        "float32 ONNX against float64 scikit-learn: {difference}"
    );
    let artifact = mlspec(dir, &["get", "Artifact/model-onnx", "-o", "json"]);
    let artifact: serde_json::Value = serde_json::from_str(&artifact.stdout).unwrap();
    assert_eq!(
        artifact["spec"]["digest"],
        format!("sha256:{}", sha256(&dir.join("model.onnx")))
    );
    assert_eq!(artifact["spec"]["run"], "Run/train");
    assert_eq!(artifact["spec"]["mediaType"], "application/onnx");

    // A tolerance the float32 model cannot meet: recorded as failed, exit 1.
    let strict = [
        "training",
        "record-conversion",
        "--model",
        "Artifact/model",
        "--converted",
        "model.onnx",
        "--format",
        "onnx",
        "--compare",
        "before.csv",
        "after.csv",
        "--tolerance",
        "1e-12",
    ];
    let out = mlspec(dir, &strict);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(training(dir)["conversions"][1]["validation"][0]["passed"], false);
    // Predictions of other inputs: an error, nothing recorded.
    std::fs::write(dir.join("short.csv"), "label,p1\n1,0.5\n").unwrap();
    let mismatched = [
        "training",
        "record-conversion",
        "--model",
        "Artifact/model",
        "--converted",
        "model.onnx",
        "--format",
        "onnx",
        "--compare",
        "before.csv",
        "short.csv",
    ];
    let out = mlspec(dir, &mismatched);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("different row counts"), "{}", out.stderr);
    assert_eq!(training(dir)["conversions"].as_array().unwrap().len(), 2);
    assert_eq!(mlspec(dir, &["store", "verify"]).code, 0);
}

#[test]
fn a_compression_records_sizes_and_metric_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    assert_eq!(mlspec(dir, &["init"]).code, 0);
    std::fs::write(dir.join("model.pkl"), vec![7u8; 4000]).unwrap();
    std::fs::write(dir.join("model-int8.bin"), vec![1u8; 1000]).unwrap();
    record_training(dir);
    let evaluation = |name: &str, accuracy: f64, auc: f64| {
        format!(
            "apiVersion: mlspec/v1\nkind: Evaluation\nmetadata: {{name: {name}}}\nspec: {{model: Artifact/model, dataset: Dataset/points@1, metrics: [{{key: accuracy, value: {accuracy}}}, {{key: roc_auc, value: {auc}}}]}}\n"
        )
    };
    std::fs::write(dir.join("before.yaml"), evaluation("before", 0.91, 0.95)).unwrap();
    std::fs::write(dir.join("after.yaml"), evaluation("after", 0.89, 0.955)).unwrap();
    assert_eq!(mlspec(dir, &["apply", "before.yaml"]).code, 0);
    let args = [
        "training",
        "record-compression",
        "--model",
        "Artifact/model",
        "--compressed",
        "model-int8.bin",
        "--method",
        "quantize",
        "--param",
        "dtype=int8",
        "--before",
        "Evaluation/before",
        "--after",
        "after.yaml",
    ];
    let out = mlspec(dir, &args);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let compression = &training(dir)["compression"][0];
    assert_eq!(compression["method"], "quantize");
    assert_eq!(compression["parameters"]["dtype"], "int8");
    assert_eq!(
        (compression["sizeBefore"].as_u64(), compression["sizeAfter"].as_u64()),
        (Some(4000), Some(1000))
    );
    let deltas = &compression["metricDeltas"];
    assert!((deltas["accuracy"].as_f64().unwrap() + 0.02).abs() < 1e-12);
    assert!((deltas["roc_auc"].as_f64().unwrap() - 0.005).abs() < 1e-12);
    assert_eq!(compression["output"], "Artifact/model-quantize");
    let not_a_model = mlspec(
        dir,
        &[
            "training",
            "record-compression",
            "--model",
            "Run/train",
            "--compressed",
            "model-int8.bin",
            "--method",
            "prune",
            "--before",
            "before.yaml",
            "--after",
            "after.yaml",
        ],
    );
    assert_eq!(not_a_model.code, 2);
    assert!(not_a_model.stderr.contains("not an Artifact"), "{}", not_a_model.stderr);
}
