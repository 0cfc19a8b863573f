//! A mail server on a loopback port that takes every message and keeps it:
//! just enough SMTP for one client (greeting, EHLO, MAIL, RCPT, DATA,
//! QUIT). Commands out of order are answered `503`, so a client that skips
//! a step fails its send.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// One message as the server received it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    /// Headers and body, dot-unstuffed, with CRLF line ends.
    pub data: String,
}

#[derive(Debug, Clone)]
pub struct SmtpSink {
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl SmtpSink {
    pub async fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("smtp://{}", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let kept = received.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(converse(stream, kept.clone()));
            }
        });
        SmtpSink { url, received }
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

async fn converse(stream: tokio::net::TcpStream, kept: Arc<Mutex<Vec<Received>>>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let _ = write.write_all(b"220 sink.test ESMTP\r\n").await;
    let mut message = Received::default();
    let mut greeted = false;
    while let Ok(Some(line)) = lines.next_line().await {
        let command = line.to_ascii_uppercase();
        let answer = if command.starts_with("EHLO") || command.starts_with("HELO") {
            greeted = true;
            "250 sink.test"
        } else if command.starts_with("MAIL FROM:") && greeted {
            message = Received {
                from: line[10..].trim().to_owned(),
                ..Received::default()
            };
            "250 OK"
        } else if command.starts_with("RCPT TO:") && !message.from.is_empty() {
            message.to.push(line[8..].trim().to_owned());
            "250 OK"
        } else if command == "DATA" && !message.to.is_empty() {
            let _ = write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await;
            while let Ok(Some(data)) = lines.next_line().await {
                if data == "." {
                    break;
                }
                let unstuffed = data.strip_prefix('.').unwrap_or(&data);
                message.data.push_str(unstuffed);
                message.data.push_str("\r\n");
            }
            kept.lock().unwrap().push(std::mem::take(&mut message));
            "250 OK: queued"
        } else if command == "QUIT" {
            let _ = write.write_all(b"221 bye\r\n").await;
            return;
        } else if command == "RSET" || command == "NOOP" {
            "250 OK"
        } else {
            "503 bad sequence of commands"
        };
        if write
            .write_all(format!("{answer}\r\n").as_bytes())
            .await
            .is_err()
        {
            return;
        }
    }
}
