//! The demo's pages on a real server (127.0.0.1, a temporary SQLite file).

mod common;

use common::Demo;

async fn start(fingerprinted: bool) -> Demo {
    Demo::start(fingerprinted, false).await
}

async fn get(demo: &Demo, path: &str, cookie: Option<&str>) -> (u16, String, Option<String>) {
    // A user agent that claims no browser: assessed `unknown`, so counted.
    let mut request = reqwest::Client::new()
        .get(format!("http://{}{path}", demo.addr))
        .header("user-agent", "demo-tests/1");
    if let Some(key) = cookie {
        request = request.header("cookie", format!("fingerprint_session={key}"));
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let key = response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("fingerprint_session="))
        .map(|v| v.split(';').next().unwrap_or_default().to_owned());
    (status, response.text().await.unwrap(), key)
}

fn views_of(page: &str, id: u32) -> String {
    let title = demo::articles()[id as usize - 1].title;
    let start = page.find(&format!(">{title}</a>")).expect("article listed");
    let rest = &page[start..];
    let views = rest.find("class=\"views\">").unwrap() + "class=\"views\">".len();
    rest[views..rest.find("</span>").unwrap()].to_owned()
}

#[tokio::test]
async fn list_and_article_pages_count_unique_visitors() {
    let demo = start(true).await;
    let (status, page, _) = get(&demo, "/", None).await;
    assert_eq!(status, 200);
    for article in demo::articles() {
        assert!(page.contains(article.title), "{} listed", article.title);
    }
    assert_eq!(views_of(&page, 3), "0 views");
    assert!(
        page.contains("fingerprint&#x2f;?next=%2Farticles%2F3\">Debouncing requests</a>"),
        "links go through the redirect page: {page}"
    );
    assert!(
        page.contains("<script defer src=\"/fingerprint/collector-"),
        "the collector is on the page"
    );
    let (status, redirect, _) = get(&demo, "/fingerprint/?next=/articles/3", None).await;
    assert_eq!(status, 200);
    assert!(redirect.contains("url=/articles/3"));

    let (status, page, key) = get(&demo, "/articles/3", None).await;
    assert_eq!(status, 200);
    assert!(page.contains("Debouncing requests") && page.contains("views"));
    let key = key.expect("a fingerprint session cookie");
    demo.fingerprint.flush().await.unwrap();
    let (_, page, _) = get(&demo, "/", Some(&key)).await;
    assert_eq!(views_of(&page, 3), "1 view");

    // The same visitor again: still one. Another visitor: two.
    get(&demo, "/articles/3", Some(&key)).await;
    demo.fingerprint.flush().await.unwrap();
    let (_, page, _) = get(&demo, "/", Some(&key)).await;
    assert_eq!(views_of(&page, 3), "1 view");
    get(&demo, "/articles/3", None).await;
    demo.fingerprint.flush().await.unwrap();
    let (_, page, _) = get(&demo, "/articles/3", Some(&key)).await;
    assert!(page.contains("2 views"), "{page}");
}

#[tokio::test]
async fn unknown_pages_are_404() {
    let demo = start(true).await;
    assert_eq!(get(&demo, "/articles/999", None).await.0, 404);
    assert_eq!(get(&demo, "/articles/not-a-number", None).await.0, 404);
    assert_eq!(get(&demo, "/nothing/here", None).await.0, 404);
    let (status, page, _) = get(&demo, "/about", None).await;
    assert_eq!(status, 200);
    assert!(page.contains("fingerprint_session"));
    assert!(
        page.contains("The data lives in SQLite ") && !page.contains("sqlite://"),
        "the database by name, not its URL: {page}"
    );
    let (status, page, _) = get(&demo, "/stats", None).await;
    assert_eq!(status, 200);
    assert!(page.contains("enqueued"));
}

#[tokio::test]
async fn without_the_layer_nothing_is_stored() {
    let demo = start(false).await;
    let (status, page, key) = get(&demo, "/articles/1", None).await;
    assert_eq!(status, 200);
    assert!(page.contains("0 views"));
    assert!(key.is_none(), "no cookie without the layer");
    assert!(!page.contains("<script"), "no collector without the layer");
    demo.fingerprint.flush().await.unwrap();
    assert_eq!(demo.fingerprint.stats().enqueued, 0);
    let (_, page, _) = get(&demo, "/", None).await;
    assert_eq!(views_of(&page, 1), "0 views");
}

#[tokio::test]
async fn bad_database_urls_are_refused() {
    let error = demo::connect_store("mysql://x").await.err().unwrap();
    assert!(error.to_string().contains("unsupported database URL"));
}
