//! Runs `standard_client.py` (beside this file): every verification RPC called from Python
//! grpcio with stubs generated from `proto/` by grpcio-tools, against the real `verification`
//! binary. Without the Python environment the test skips (prints why), or fails under
//! `BROWSER_STREAM_REQUIRE_ALL=1`.

use std::path::Path;

#[test]
fn a_client_generated_by_grpcio_tools_calls_every_rpc() {
    test_kit::standard_client::run_script(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/standard_client.py"),
        &[
            "--bin".as_ref(),
            env!("CARGO_BIN_EXE_verification").as_ref(),
        ],
    );
}
