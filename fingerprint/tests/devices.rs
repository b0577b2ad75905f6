//! User-agent parsing on real user agents of every kind: desktop, mobile and tablet browsers
//! (Chrome, Firefox, Safari, Edge, Samsung Internet, Opera, ...), tools and crawlers.

use fingerprint::v1::{Device, DeviceType};
use DeviceType::{Bot, Desktop, Mobile, Tablet};

/// (user agent, browser family, browser major version, OS family, device type)
const AGENTS: &[(&str, &str, &str, &str, DeviceType)] = &[
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
        "Chrome", "124", "Windows", Desktop,
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
        "Chrome", "124", "Mac OS X", Desktop,
    ),
    (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.0.0 Safari/537.36",
        "Chrome", "123", "Linux", Desktop,
    ),
    (
        "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36",
        "Chrome", "122", "Chrome OS", Desktop,
    ),
    (
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36",
        "Chrome Mobile", "124", "Android", Mobile,
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8 Pro) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82 Mobile Safari/537.36",
        "Chrome Mobile", "124", "Android", Mobile,
    ),
    (
        "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.0.0 Safari/537.36",
        "Chrome", "123", "Android", Tablet,
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/124.0.6367.88 Mobile/15E148 Safari/604.1",
        "Chrome Mobile iOS", "124", "iOS", Mobile,
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
        "Firefox", "125", "Windows", Desktop,
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.4; rv:125.0) Gecko/20100101 Firefox/125.0",
        "Firefox", "125", "Mac OS X", Desktop,
    ),
    (
        "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:124.0) Gecko/20100101 Firefox/124.0",
        "Firefox", "124", "Ubuntu", Desktop,
    ),
    (
        "Mozilla/5.0 (Android 14; Mobile; rv:125.0) Gecko/125.0 Firefox/125.0",
        "Firefox Mobile", "125", "Android", Mobile,
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/125.0 Mobile/15E148 Safari/605.1.15",
        "Firefox iOS", "125", "iOS", Mobile,
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15",
        "Safari", "17", "Mac OS X", Desktop,
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
        "Mobile Safari", "17", "iOS", Mobile,
    ),
    (
        "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
        "Mobile Safari", "17", "iOS", Tablet,
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.80",
        "Edge", "124", "Windows", Desktop,
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.67",
        "Edge", "124", "Mac OS X", Desktop,
    ),
    (
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36 EdgA/124.0.2478.62",
        "Edge Mobile", "124", "Android", Mobile,
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36",
        "Samsung Internet", "24", "Android", Mobile,
    ),
    (
        "Mozilla/5.0 (Linux; Android 13; SAMSUNG SM-X910) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Safari/537.36",
        "Samsung Internet", "23", "Android", Tablet,
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 OPR/109.0.0.0",
        "Opera", "109", "Windows", Desktop,
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 YaBrowser/24.4.0.0 Safari/537.36",
        "Yandex Browser", "24", "Windows", Desktop,
    ),
    (
        "curl/8.5.0",
        "curl", "8", "", Bot,
    ),
    (
        "Wget/1.21.4",
        "Wget", "1", "", Bot,
    ),
    (
        "python-requests/2.31.0",
        "Python Requests", "2", "", Bot,
    ),
    (
        "Go-http-client/1.1",
        "Go-http-client", "1", "", Bot,
    ),
    (
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Googlebot", "2", "", Bot,
    ),
    (
        "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.78 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Googlebot", "2", "Android", Bot,
    ),
    (
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        "bingbot", "2", "", Bot,
    ),
    (
        "DuckDuckBot/1.1; (+http://duckduckgo.com/duckduckbot.html)",
        "DuckDuckBot", "1", "", Bot,
    ),
    (
        "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
        "FacebookBot", "1", "", Bot,
    ),
    (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36",
        "HeadlessChrome", "156", "Linux", Bot,
    ),
    (
        "Mozilla/5.0 (Windows NT 6.1; WOW64; Trident/7.0; rv:11.0) like Gecko",
        "IE", "11", "Windows", Desktop,
    ),
    (
        "Mozilla/5.0 (Linux; Android 11; KFTRWI) AppleWebKit/537.36 (KHTML, like Gecko) Silk/124.1.1 like Chrome/124.0.6367.219 Safari/537.36",
        "Amazon Silk", "124", "Android", Tablet,
    ),
    (
        "Mozilla/5.0 (Windows Phone 10.0; Android 6.0.1; Microsoft; Lumia 950) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/52.0.2743.116 Mobile Safari/537.36 Edge/15.15063",
        "Edge Mobile", "15", "Windows Phone", Mobile,
    ),
    (
        "okhttp/4.12.0",
        "okhttp", "4", "", Bot,
    ),
    (
        "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
        "YandexBot", "3", "", Bot,
    ),
    (
        "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
        "AhrefsBot", "7", "", Bot,
    ),
];

#[test]
fn real_user_agents_give_their_family_and_type() {
    assert!(AGENTS.len() >= 30);
    let mut wrong = Vec::new();
    for &(agent, browser, version, os, kind) in AGENTS {
        let device = Device::from_user_agent(agent);
        let got = (
            device.browser.as_str(),
            device.browser_version.as_str(),
            device.os.as_str(),
            device.device_type,
        );
        if got != (browser, version, os, kind) {
            wrong.push(format!(
                "{agent}\n  expected {:?}\n  got      {got:?}",
                (browser, version, os, kind)
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn os_versions_and_unknown_agents() {
    let mac = Device::from_user_agent(AGENTS[1].0);
    assert_eq!(mac.os_version, "10.15");
    let iphone = Device::from_user_agent(AGENTS[14].0);
    assert_eq!(iphone.os_version, "17.4");
    assert_eq!(Device::from_user_agent(""), Device::default());
    assert_eq!(Device::from_user_agent("").device_type, DeviceType::Other);
    let unknown = Device::from_user_agent("SomethingNobodyKnows");
    assert_eq!(unknown.device_type, DeviceType::Other);
    assert_eq!(unknown.browser, "");
    let long = "Mozilla/5.0 ".repeat(10_000);
    assert!(Device::from_user_agent(&long).browser.chars().count() <= 255);
}
