//! `avs-node keys …` through real keystore files: new/show/import roundtrips, file modes,
//! wrong passwords and corrupt files as one-line errors.

use crate::support::avs_node;
use std::path::Path;

fn password_file(dir: &Path, password: &str) -> String {
    let path = dir.join(format!("password-{}", password.len()));
    std::fs::write(&path, format!("{password}\n")).unwrap();
    path.display().to_string()
}

fn json(run: &crate::support::Run) -> serde_json::Value {
    assert!(run.success, "command failed: {}", run.stderr);
    serde_json::from_str(&run.stdout).expect("JSON output")
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn bls_new_show_list_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys").display().to_string();
    let good = password_file(dir.path(), "correct horse");
    let created = json(&avs_node(
        &[
            "keys",
            "bls",
            "new",
            "op1",
            "--keys-dir",
            &keys,
            "--password-file",
            &good,
            "--json",
        ],
        &[],
    ));
    assert_eq!(created["type"], "bls");
    assert!(created["g1PublicKey"][0].is_string(), "{created}");
    let path = dir.path().join("keys/op1.bls.key.json");
    assert_eq!(created["path"], path.display().to_string());
    #[cfg(unix)]
    assert_eq!(mode(&path), 0o600);

    // The password from the environment works as well as the file.
    let shown = json(&avs_node(
        &["keys", "bls", "show", "op1", "--keys-dir", &keys, "--json"],
        &[("AVS_BLS_PASSWORD", "correct horse")],
    ));
    assert_eq!(shown, created, "show prints what new printed");
    assert!(
        !avs_node(
            &["keys", "bls", "show", "op1", "--keys-dir", &keys],
            &[("AVS_BLS_PASSWORD", "correct horse")]
        )
        .stdout
        .contains("secret")
    );

    let listed = json(&avs_node(
        &["keys", "bls", "list", "--keys-dir", &keys, "--json"],
        &[],
    ));
    assert_eq!(listed[0]["name"], "op1");
    assert_eq!(listed.as_array().unwrap().len(), 1);

    let again = avs_node(
        &[
            "keys",
            "bls",
            "new",
            "op1",
            "--keys-dir",
            &keys,
            "--password-file",
            &good,
        ],
        &[],
    );
    assert!(!again.success);
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);

    let wrong = password_file(dir.path(), "wrong");
    let run = avs_node(
        &[
            "keys",
            "bls",
            "show",
            "op1",
            "--keys-dir",
            &keys,
            "--password-file",
            &wrong,
        ],
        &[],
    );
    assert!(!run.success);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("wrong password for the BLS keystore"),
        "{}",
        run.stderr
    );

    let corrupt = dir.path().join("corrupt.bls.key.json");
    std::fs::write(&corrupt, "{\"crypto\": 42}").unwrap();
    let run = avs_node(
        &[
            "keys",
            "bls",
            "show",
            &corrupt.display().to_string(),
            "--password-file",
            &good,
        ],
        &[],
    );
    assert!(!run.success);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("is unusable") && run.stderr.contains("restore it from your backup"),
        "{}",
        run.stderr
    );

    let run = avs_node(
        &[
            "keys",
            "bls",
            "show",
            "nobody",
            "--keys-dir",
            &keys,
            "--password-file",
            &good,
        ],
        &[],
    );
    assert!(
        run.stderr
            .contains("not found: check the path or create one with `avs-node keys bls new`"),
        "{}",
        run.stderr
    );
}

#[test]
fn bls_import_accepts_decimal_and_hex() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().display().to_string();
    let password = password_file(dir.path(), "pw");
    let decimal = dir.path().join("sk-dec");
    std::fs::write(&decimal, "12345\n").unwrap();
    let hex = dir.path().join("sk-hex");
    std::fs::write(&hex, format!("0x{:064x}\n", 12345)).unwrap();
    let a = json(&avs_node(
        &[
            "keys",
            "bls",
            "import",
            "a",
            "--keys-dir",
            &keys,
            "--password-file",
            &password,
            "--private-key-file",
            &decimal.display().to_string(),
            "--json",
        ],
        &[],
    ));
    let b = json(&avs_node(
        &[
            "keys",
            "bls",
            "import",
            "b",
            "--keys-dir",
            &keys,
            "--password-file",
            &password,
            "--private-key-file",
            &hex.display().to_string(),
            "--json",
        ],
        &[],
    ));
    assert!(
        a["operatorId"].as_str().is_some_and(|id| id.len() == 66),
        "{a}"
    );
    assert_eq!(a["operatorId"], b["operatorId"]);
    assert_eq!(a["g2PublicKey"].as_array().map(Vec::len), Some(2));
    assert_eq!(a["g1PublicKey"], b["g1PublicKey"]);
}

#[test]
fn ecdsa_import_show_roundtrip_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys").display().to_string();
    let password = password_file(dir.path(), "hunter22");
    // DEVNET TEST KEY: anvil's well-known, public first development account.
    let sk = dir.path().join("sk");
    std::fs::write(
        &sk,
        "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80\n",
    )
    .unwrap();
    let imported = json(&avs_node(
        &[
            "keys",
            "ecdsa",
            "import",
            "wallet",
            "--keys-dir",
            &keys,
            "--password-file",
            &password,
            "--private-key-file",
            &sk.display().to_string(),
            "--json",
        ],
        &[],
    ));
    assert_eq!(
        imported["address"],
        "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"
    );
    let path = dir.path().join("keys/wallet.ecdsa.key.json");
    #[cfg(unix)]
    assert_eq!(mode(&path), 0o600);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("keys"))
        .unwrap()
        .collect();
    assert_eq!(leftovers.len(), 1, "no staging directory left behind");

    let shown = json(&avs_node(
        &[
            "keys",
            "ecdsa",
            "show",
            "wallet",
            "--keys-dir",
            &keys,
            "--json",
        ],
        &[("AVS_ECDSA_PASSWORD", "hunter22")],
    ));
    assert_eq!(shown, imported);

    let created = json(&avs_node(
        &[
            "keys",
            "ecdsa",
            "new",
            "fresh",
            "--keys-dir",
            &keys,
            "--password-file",
            &password,
            "--json",
        ],
        &[],
    ));
    assert_ne!(created["address"], imported["address"]);
    let listed = json(&avs_node(
        &["keys", "ecdsa", "list", "--keys-dir", &keys, "--json"],
        &[],
    ));
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["fresh", "wallet"]);

    let run = avs_node(
        &["keys", "ecdsa", "show", "wallet", "--keys-dir", &keys],
        &[("AVS_ECDSA_PASSWORD", "nope")],
    );
    assert!(!run.success);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("wrong password for the ECDSA keystore"),
        "{}",
        run.stderr
    );

    std::fs::write(&path, "not json").unwrap();
    let run = avs_node(
        &[
            "keys",
            "ecdsa",
            "show",
            "wallet",
            "--keys-dir",
            &keys,
            "--password-file",
            &password,
        ],
        &[],
    );
    assert!(!run.success);
    assert!(run.stderr.contains("is unusable"), "{}", run.stderr);

    let bad = dir.path().join("bad-sk");
    std::fs::write(&bad, "0x1234").unwrap();
    let run = avs_node(
        &[
            "keys",
            "ecdsa",
            "import",
            "bad",
            "--keys-dir",
            &keys,
            "--password-file",
            &password,
            "--private-key-file",
            &bad.display().to_string(),
        ],
        &[],
    );
    assert!(
        run.stderr
            .contains("the private key has 2 bytes, expected 32"),
        "{}",
        run.stderr
    );
}

#[test]
fn no_terminal_and_no_password_is_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().display().to_string();
    let run = avs_node(&["keys", "bls", "new", "x", "--keys-dir", &keys], &[]);
    assert!(!run.success);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("cannot prompt for a password"),
        "{}",
        run.stderr
    );
}
