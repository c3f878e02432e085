//! The dashboard in a real headless Chromium over WebDriver (issue 12).
