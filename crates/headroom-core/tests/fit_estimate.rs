#![allow(clippy::unwrap_used, clippy::expect_used)]
//! "Will it fit?": seed 001's table, generated model folders (config.json + safetensors
//! headers), and verdicts against budgets.

use headroom_core::fit::{self, Budget, Closable, FitInput, ModelShape, Verdict};
use std::path::Path;

const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * MIB;

fn input(params: &str, bits: u32) -> FitInput {
    FitInput {
        params: Some(fit::parse_params(params).unwrap()),
        bits: Some(bits),
        context: 8192,
        kv_bits: 16,
        ..FitInput::default()
    }
}

#[test]
fn weights_agree_with_seed_001_within_5_percent() {
    // Seed 001 "Real-World Examples" (GB = 10^9 bytes, parameters × bytes per parameter).
    let table = [
        ("7B", [14.0, 7.0, 3.5]),
        ("13B", [26.0, 13.0, 6.5]),
        ("30B", [60.0, 30.0, 15.0]),
        ("70B", [140.0, 70.0, 35.0]),
    ];
    for (params, gbs) in table {
        for (bits, gb) in [16, 8, 4].into_iter().zip(gbs) {
            let e = fit::estimate(&input(params, bits)).unwrap();
            let got = e.weights as f64 / 1e9;
            assert!(
                (got - gb).abs() / gb <= 0.05,
                "{params} at {bits} bits: {got} GB, seed says {gb} GB"
            );
        }
    }
}

#[test]
fn totals_add_up_and_match_seed_003() {
    let e = fit::estimate(&input("70B", 4)).unwrap();
    assert_eq!(e.total, e.weights + e.kv_cache + e.overhead);
    let p = e.overhead_parts;
    assert_eq!(e.overhead, p.quant_scales + p.activations + p.runtime);
    // Llama-70B: 80 layers, 8 KV heads, head dim 128; 8192 tokens at 16 bits.
    assert_eq!(
        e.shape,
        ModelShape {
            layers: 80,
            kv_heads: 8,
            head_dim: 128
        }
    );
    assert_eq!(e.kv_cache, 2 * 80 * 8 * 128 * 8192 * 2);
    // Seed 003: "70B Q4 (~40 GB)", "70B Q8 (~75 GB)" — weights plus quantization scales.
    let q4 = (e.weights + p.quant_scales) as f64 / 1e9;
    assert!((q4 - 40.0).abs() / 40.0 < 0.05, "{q4}");
    let e8 = fit::estimate(&input("70B", 8)).unwrap();
    let q8 = (e8.weights + e8.overhead_parts.quant_scales) as f64 / 1e9;
    assert!((q8 - 75.0).abs() / 75.0 < 0.05, "{q8}");
    assert_eq!(
        fit::estimate(&input("7B", 16))
            .unwrap()
            .overhead_parts
            .quant_scales,
        0
    );
    assert!(e.shape_source.contains("Llama-70B"), "{}", e.shape_source);
}

#[test]
fn shape_flags_and_kv_bits() {
    let mut i = input("8B", 4);
    i.layers = Some(32);
    i.kv_heads = Some(8);
    i.head_dim = Some(128);
    i.kv_bits = 8;
    i.context = 32768;
    let e = fit::estimate(&i).unwrap();
    assert_eq!(e.kv_cache, 2 * 32 * 8 * 128 * 32768);
    assert_eq!(e.shape_source, "given on the command line");
}

#[test]
fn bad_inputs_name_the_value() {
    for (s, frag) in [
        ("70X", "\"70X\""),
        ("", "\"\""),
        ("-7B", "\"-7B\""),
        ("0", "\"0\""),
    ] {
        let e = fit::parse_params(s).unwrap_err().message;
        assert!(e.contains(frag) && e.contains("70B"), "{s}: {e}");
    }
    assert_eq!(fit::parse_params("1.5B").unwrap(), 1_500_000_000);
    assert_eq!(fit::parse_params("500m").unwrap(), 500_000_000);
    let e = fit::estimate(&input("7B", 7)).unwrap_err().message;
    assert!(
        e.contains("invalid bits 7") && e.contains("2, 3, 4, 5, 6, 8, 16, 32"),
        "{e}"
    );
    let mut i = input("7B", 4);
    i.kv_bits = 12;
    assert!(fit::estimate(&i)
        .unwrap_err()
        .message
        .contains("invalid KV bits 12"));
    i.kv_bits = 16;
    i.context = 0;
    assert!(fit::estimate(&i)
        .unwrap_err()
        .message
        .contains("invalid context 0"));
    let e = fit::estimate(&FitInput {
        context: 10,
        kv_bits: 16,
        ..FitInput::default()
    })
    .unwrap_err();
    assert!(e.message.contains("--params"), "{e}");
    assert_eq!(e.param, headroom_core::ops::Param::Params);
}

/// Writes a safetensors file with only a header (tensor data is never read).
fn write_safetensors(path: &Path, tensors: &[(&str, &str, &[u64], u64)]) {
    let mut obj = serde_json::Map::new();
    obj.insert("__metadata__".into(), serde_json::json!({"format": "mlx"}));
    let mut off = 0u64;
    for (name, dtype, shape, bytes) in tensors {
        obj.insert(
            (*name).into(),
            serde_json::json!({"dtype": dtype, "shape": shape, "data_offsets": [off, off + bytes]}),
        );
        off += bytes;
    }
    let header = serde_json::to_vec(&obj).unwrap();
    let mut file = (header.len() as u64).to_le_bytes().to_vec();
    file.extend_from_slice(&header);
    std::fs::write(path, file).unwrap();
}

#[test]
fn reads_a_quantized_model_folder() {
    let dir = tempfile::tempdir().unwrap();
    // A Llama-3-8B-like 4-bit MLX folder, split in two shards.
    std::fs::write(
        dir.path().join("config.json"),
        r#"{"model_type":"llama","num_hidden_layers":32,"num_attention_heads":32,
            "num_key_value_heads":8,"hidden_size":4096,
            "quantization":{"group_size":64,"bits":4}}"#,
    )
    .unwrap();
    write_safetensors(
        &dir.path().join("model-00001-of-00002.safetensors"),
        &[
            (
                "model.layers.0.mlp.down_proj.weight",
                "U32",
                &[4096, 1792],
                3 * GIB,
            ),
            (
                "model.layers.0.mlp.down_proj.scales",
                "F16",
                &[4096, 224],
                200 * MIB,
            ),
        ],
    );
    write_safetensors(
        &dir.path().join("model-00002-of-00002.safetensors"),
        &[("lm_head.weight", "U32", &[128256, 512], GIB + 123)],
    );
    std::fs::write(dir.path().join("README.md"), "not a tensor file").unwrap();
    let folder = fit::read_model_folder(dir.path()).unwrap();
    assert_eq!(folder.weights, 4 * GIB + 200 * MIB + 123);
    assert_eq!(folder.files, 2);
    assert_eq!(folder.bits, Some(4));
    assert_eq!(
        folder.shape,
        Some(ModelShape {
            layers: 32,
            kv_heads: 8,
            head_dim: 128
        })
    );
    let e = fit::estimate(&FitInput {
        context: 8192,
        kv_bits: 16,
        folder: Some(folder),
        ..FitInput::default()
    })
    .unwrap();
    assert_eq!(e.weights, 4 * GIB + 200 * MIB + 123);
    assert_eq!(e.bits, 4);
    assert_eq!(
        e.overhead_parts.quant_scales, 0,
        "scales are in the tensor bytes"
    );
    assert_eq!(e.kv_cache, 2 * 32 * 8 * 128 * 8192 * 2);
    assert_eq!(e.shape_source, "config.json");
}

#[test]
fn reads_head_dim_and_nested_text_config() {
    let cfg = serde_json::json!({"text_config": {"num_hidden_layers": 48,
        "num_attention_heads": 16, "num_key_value_heads": 4, "head_dim": 256, "hidden_size": 3840}});
    let (shape, bits) = fit::shape_from_config(&cfg);
    assert_eq!(
        shape,
        Some(ModelShape {
            layers: 48,
            kv_heads: 4,
            head_dim: 256
        })
    );
    assert_eq!(bits, None);
    // No num_key_value_heads: multi-head attention, KV heads = attention heads.
    let (shape, _) = fit::shape_from_config(&serde_json::json!({"num_hidden_layers": 32,
        "num_attention_heads": 32, "hidden_size": 4096}));
    assert_eq!(
        shape,
        Some(ModelShape {
            layers: 32,
            kv_heads: 32,
            head_dim: 128
        })
    );
}

#[test]
fn broken_folders_say_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let e = fit::read_model_folder(dir.path()).unwrap_err().message;
    assert!(e.contains("config.json"), "{e}");
    std::fs::write(dir.path().join("config.json"), "{}").unwrap();
    let e = fit::read_model_folder(dir.path()).unwrap_err().message;
    assert!(e.contains("no .safetensors files"), "{e}");
    std::fs::write(dir.path().join("x.safetensors"), [0xff; 16]).unwrap();
    let e = fit::read_model_folder(dir.path()).unwrap_err().message;
    assert!(e.contains("not a safetensors file"), "{e}");
    // A config without a shape needs the flags.
    write_safetensors(&dir.path().join("x.safetensors"), &[("w", "F16", &[2], 4)]);
    let folder = fit::read_model_folder(dir.path()).unwrap();
    let e = fit::estimate(&FitInput {
        context: 10,
        kv_bits: 16,
        folder: Some(folder),
        ..FitInput::default()
    })
    .unwrap_err();
    assert!(e.message.contains("--layers"), "{e}");
}

fn budget(physical: u64, available: u64, wired: Option<u64>) -> Budget {
    Budget {
        physical: Some(physical),
        available: Some(available),
        wired_limit: wired,
        has_wired_limit: true,
    }
}

#[test]
fn verdicts() {
    let e = fit::estimate(&input("70B", 4)).unwrap();
    let apps = [
        Closable {
            name: "Google Chrome".into(),
            footprint: 4 * GIB,
        },
        Closable {
            name: "Slack".into(),
            footprint: 2 * GIB,
        },
    ];
    // 128 GB, plenty available, wired limit 96 GB: fits.
    let r = fit::judge(&e, &budget(128 * GIB, 100 * GIB, Some(96 * GIB)), &apps);
    assert_eq!(r.verdict, Verdict::Fits, "{:?}", r.reasons);
    // 64 GB with a 40 GB wired limit: raise it.
    let r = fit::judge(&e, &budget(64 * GIB, 55 * GIB, Some(40 * GIB)), &apps);
    assert_eq!(r.verdict, Verdict::FitsIf, "{:?}", r.reasons);
    let to = r.raise_wired_limit_to_mb.unwrap();
    assert!(to * MIB >= e.total && to <= 57344, "{to}");
    assert!(r.close.is_empty());
    // Short of available memory by less than Chrome holds: close Chrome.
    let r = fit::judge(&e, &budget(64 * GIB, e.total - GIB, Some(48 * GIB)), &apps);
    assert_eq!(r.verdict, Verdict::FitsIf);
    assert_eq!(r.close, apps[..1].to_vec());
    // Closing everything is not enough.
    let r = fit::judge(&e, &budget(64 * GIB, 20 * GIB, Some(48 * GIB)), &apps);
    assert_eq!(r.verdict, Verdict::DoesNotFit);
    assert!(r.close.is_empty());
    // 32 GB can never hold it.
    let r = fit::judge(&e, &budget(32 * GIB, 30 * GIB, None), &apps);
    assert_eq!(r.verdict, Verdict::DoesNotFit);
    assert!(r.reasons[0].contains("at most"), "{:?}", r.reasons);
    let v = serde_json::to_value(&r).unwrap();
    for k in ["weights", "kv_cache", "overhead", "total", "verdict"] {
        assert!(v.get(k).is_some(), "{k}");
    }
    assert_eq!(v["verdict"], "does_not_fit");
}
