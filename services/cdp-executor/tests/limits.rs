//! What a browser may send is capped: a page can make Chromium send messages of any size (a
//! binding called with a huge payload), and one executor serves every session.

mod support;

use cdp_executor::cdp::wire::MAX_MESSAGE_BYTES;
use serde_json::{json, Value};
use support::{chromium, chromium_available, Driver, WAIT};

/// Adds a binding to the tab and makes the page call it with `bytes` of payload, without
/// waiting for the answer (the connection may end before it comes).
async fn page_sends(driver: &Driver, session: &str, bytes: usize) {
    // Bindings report through the Runtime domain (as the executor's own listeners do).
    driver
        .browser
        .call("Runtime.enable", Some(session), json!({}))
        .await
        .unwrap();
    driver
        .browser
        .call(
            "Runtime.addBinding",
            Some(session),
            json!({ "name": "pageSends" }),
        )
        .await
        .unwrap();
    driver.browser.cdp().fire(
        "Runtime.evaluate",
        Some(session),
        json!({ "expression": format!("pageSends('x'.repeat({bytes}))") }),
    );
}

#[tokio::test]
async fn a_message_over_the_cap_ends_the_connection_and_a_new_one_works() {
    if !chromium_available() {
        return;
    }
    let browser = chromium(0).await;
    let driver = Driver::connect(&browser).await;
    let tab = driver.first_tab().await;

    page_sends(&driver, &tab.session, MAX_MESSAGE_BYTES + 1024).await;
    tokio::time::timeout(WAIT, driver.browser.cdp().closed())
        .await
        .expect("the connection ends instead of reading the whole message");

    let again = Driver::connect(&browser).await;
    let tab = again.first_tab().await;
    assert_eq!(again.eval(&tab, "6 * 7").await, json!(42));
    again.close();
}

#[tokio::test]
async fn a_message_under_the_cap_arrives_whole() {
    if !chromium_available() {
        return;
    }
    let browser = chromium(0).await;
    let driver = Driver::connect(&browser).await;
    let tab = driver.first_tab().await;
    let mut events = driver.browser.cdp().subscribe(16).await.unwrap();

    // As large as the biggest screenshot the executor accepts (5 MiB of PNG, as base64).
    let bytes = 7 * 1024 * 1024;
    page_sends(&driver, &tab.session, bytes).await;
    let payload = tokio::time::timeout(WAIT, async {
        loop {
            let event = events.recv().await.expect("connection open");
            if event.method == "Runtime.bindingCalled" {
                break event.params["payload"].clone();
            }
        }
    })
    .await
    .expect("the binding call arrives");
    assert_eq!(payload.as_str().map(str::len), Some(bytes));
    assert!(!driver.browser.cdp().is_closed());
    assert_eq!(driver.eval(&tab, "1 + 1").await, Value::from(2));
    driver.close();
}
