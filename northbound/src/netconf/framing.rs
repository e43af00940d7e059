//! NETCONF message framing (RFC 6242, 4.3 and 4.2), sans IO: bytes in,
//! whole messages out, each bounded in size.
//!
//! ```text
//!   base:1.0  end-of-message    <rpc>...</rpc>]]>]]>
//!   base:1.1  chunked           \n#4\n<rpc\n#7\n>..</rpc>\n##\n
//! ```
//!
//! Both peers start with end-of-message framing for the hello; chunked
//! framing follows when both announced base:1.1 (RFC 6242, 4.1).

/// The end-of-message marker of base:1.0.
const END_OF_MESSAGE: &[u8] = b"]]>]]>";
/// The end-of-chunks marker of base:1.1.
const END_OF_CHUNKS: &[u8] = b"\n##\n";
/// RFC 6242, 4.2: chunk-size is 1 to 4294967295, at most ten digits.
const MAX_CHUNK_SIZE: u64 = 4_294_967_295;
const MAX_CHUNK_DIGITS: usize = 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Framing {
    EndOfMessage,
    Chunked,
}

/// What the decoder found in the bytes fed so far.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Frame {
    /// A whole message.
    Message(Vec<u8>),
    /// A message longer than the bound: its rest is skipped, the next
    /// message is decoded as usual.
    Oversize,
    /// Broken chunked framing: the stream cannot be resynchronised.
    Broken(&'static str),
}

/// Where the chunked decoder is between two bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Chunk {
    /// Expecting `\n#` and a size or `#\n`.
    Header,
    /// Inside a chunk: this many bytes still to come.
    Data(u64),
}

/// Splits the incoming byte stream into messages.
#[derive(Debug)]
pub(crate) struct Decoder {
    framing: Framing,
    max_message: usize,
    /// Bytes received and not yet consumed.
    input: Vec<u8>,
    /// How much of `input` was searched for the end-of-message marker.
    scanned: usize,
    /// The message decoded so far (chunked framing).
    message: Vec<u8>,
    chunk: Chunk,
    /// The current message went over the bound: skip to its end.
    skipping: bool,
    broken: bool,
}

impl Decoder {
    pub(crate) fn new(max_message: usize) -> Self {
        Decoder {
            framing: Framing::EndOfMessage,
            max_message,
            input: vec![],
            scanned: 0,
            message: vec![],
            chunk: Chunk::Header,
            skipping: false,
            broken: false,
        }
    }

    /// Switches framing after the hello exchange.
    pub(crate) fn set_framing(&mut self, framing: Framing) {
        self.framing = framing;
    }

    pub(crate) fn feed(&mut self, bytes: &[u8]) {
        if !self.broken {
            self.input.extend_from_slice(bytes);
        }
    }

    /// Whether a message was started but not ended (at end of input, the
    /// peer left without an end marker). Whitespace between messages does
    /// not count.
    pub(crate) fn has_partial(&self) -> bool {
        self.skipping
            || !self.message.is_empty()
            || self.chunk != Chunk::Header
            || self.input.iter().any(|b| !b.is_ascii_whitespace())
    }

    /// The next frame in what was fed, if a whole one is there.
    pub(crate) fn next_frame(&mut self) -> Option<Frame> {
        if self.broken {
            return None;
        }
        match self.framing {
            Framing::EndOfMessage => self.next_end_of_message(),
            Framing::Chunked => self.next_chunked(),
        }
    }

    fn next_end_of_message(&mut self) -> Option<Frame> {
        // Search only what was not searched yet (and the marker's length
        // before it): a large message arrives in many pieces.
        let from = self.scanned.saturating_sub(END_OF_MESSAGE.len() - 1);
        match find(&self.input[from..], END_OF_MESSAGE).map(|at| from + at) {
            Some(end) => {
                let mut message: Vec<u8> = self.input.drain(..end + END_OF_MESSAGE.len()).collect();
                self.scanned = 0;
                message.truncate(end);
                if std::mem::take(&mut self.skipping) {
                    // The oversize message ends here; already answered.
                    return self.next_end_of_message();
                }
                match end > self.max_message {
                    true => Some(Frame::Oversize),
                    false => Some(Frame::Message(message)),
                }
            }
            None if self.input.len() > self.max_message + END_OF_MESSAGE.len() => {
                // Keep what could be the start of the marker.
                let keep = self.input.len() - (END_OF_MESSAGE.len() - 1);
                self.input.drain(..keep);
                self.scanned = self.input.len();
                match std::mem::replace(&mut self.skipping, true) {
                    true => None,
                    false => Some(Frame::Oversize),
                }
            }
            None => {
                self.scanned = self.input.len();
                None
            }
        }
    }

    fn next_chunked(&mut self) -> Option<Frame> {
        loop {
            match self.chunk {
                Chunk::Header => {
                    // Whitespace between messages is tolerated (some
                    // clients end a message with an extra newline).
                    if self.message.is_empty() && !self.skipping {
                        skip_blanks(&mut self.input);
                    }
                    match parse_header(&self.input) {
                        Header::Incomplete => return None,
                        Header::Broken(reason) => {
                            self.broken = true;
                            self.input.clear();
                            return Some(Frame::Broken(reason));
                        }
                        Header::EndOfChunks => {
                            self.input.drain(..END_OF_CHUNKS.len());
                            let message = std::mem::take(&mut self.message);
                            if std::mem::take(&mut self.skipping) {
                                continue;
                            }
                            return Some(Frame::Message(message));
                        }
                        Header::Chunk { size, length } => {
                            self.input.drain(..length);
                            self.chunk = Chunk::Data(size);
                            let total = self.message.len() as u64 + size;
                            if !self.skipping && total > self.max_message as u64 {
                                self.skipping = true;
                                self.message = vec![];
                                return Some(Frame::Oversize);
                            }
                        }
                    }
                }
                Chunk::Data(left) => {
                    if self.input.is_empty() {
                        return None;
                    }
                    let take = usize::try_from(left)
                        .unwrap_or(usize::MAX)
                        .min(self.input.len());
                    let data = self.input.drain(..take);
                    if !self.skipping {
                        self.message.extend(data);
                    } else {
                        drop(data);
                    }
                    let left = left - take as u64;
                    self.chunk = match left {
                        0 => Chunk::Header,
                        left => Chunk::Data(left),
                    };
                }
            }
        }
    }
}

enum Header {
    Incomplete,
    Broken(&'static str),
    EndOfChunks,
    /// A chunk of `size` bytes; the header is `length` bytes long.
    Chunk {
        size: u64,
        length: usize,
    },
}

/// RFC 6242, 4.2: `LF HASH chunk-size LF` or `LF HASH HASH LF`.
fn parse_header(input: &[u8]) -> Header {
    let expect = |at: usize, byte: u8| match input.get(at) {
        None => Some(Header::Incomplete),
        Some(b) if *b == byte => None,
        Some(_) => Some(Header::Broken("a chunk header must start with LF #")),
    };
    if let Some(header) = expect(0, b'\n').or_else(|| expect(1, b'#')) {
        return header;
    }
    match input.get(2) {
        None => return Header::Incomplete,
        Some(b'#') => {
            return match input.get(3) {
                None => Header::Incomplete,
                Some(b'\n') => Header::EndOfChunks,
                Some(_) => Header::Broken("end of chunks must be LF # # LF"),
            };
        }
        Some(b'1'..=b'9') => {}
        Some(_) => return Header::Broken("a chunk size must start with 1 to 9"),
    }
    let digits = input[2..].iter().take_while(|b| b.is_ascii_digit()).count();
    if digits > MAX_CHUNK_DIGITS {
        return Header::Broken("chunk size too long");
    }
    match input.get(2 + digits) {
        None => Header::Incomplete,
        Some(b'\n') => {
            let size = input[2..2 + digits]
                .iter()
                .fold(0u64, |size, digit| size * 10 + u64::from(digit - b'0'));
            match size > MAX_CHUNK_SIZE {
                true => Header::Broken("chunk size over 4294967295"),
                false => Header::Chunk {
                    size,
                    length: 3 + digits,
                },
            }
        }
        Some(_) => Header::Broken("a chunk size must end with LF"),
    }
}

/// Drops whitespace before a message's first chunk header: all but the
/// LF that starts the header.
fn skip_blanks(input: &mut Vec<u8>) {
    let blank = input.iter().take_while(|b| b.is_ascii_whitespace()).count();
    let keep_lf = match input.get(blank) {
        // What follows is not known yet: keep a last LF.
        None => input.last() == Some(&b'\n'),
        Some(b'#') => blank > 0 && input[blank - 1] == b'\n',
        Some(_) => false,
    };
    input.drain(..blank - usize::from(keep_lf));
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// `message` framed for sending.
pub(crate) fn encode(framing: Framing, message: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 16);
    match framing {
        Framing::EndOfMessage => {
            out.extend_from_slice(message.as_bytes());
            out.extend_from_slice(END_OF_MESSAGE);
        }
        Framing::Chunked => {
            if !message.is_empty() {
                out.extend_from_slice(format!("\n#{}\n", message.len()).as_bytes());
                out.extend_from_slice(message.as_bytes());
            }
            out.extend_from_slice(END_OF_CHUNKS);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(decoder: &mut Decoder) -> Vec<Frame> {
        std::iter::from_fn(|| decoder.next_frame()).collect()
    }

    fn message(text: &str) -> Frame {
        Frame::Message(text.as_bytes().to_vec())
    }

    #[test]
    fn end_of_message_frames_split_anywhere() {
        let stream = b"<a/>]]>]]>\n<b/>]]>]]><c";
        for cut in 0..stream.len() {
            let mut decoder = Decoder::new(100);
            decoder.feed(&stream[..cut]);
            let mut got = frames(&mut decoder);
            decoder.feed(&stream[cut..]);
            got.extend(frames(&mut decoder));
            assert_eq!(got, [message("<a/>"), message("\n<b/>")], "cut at {cut}");
            assert!(decoder.has_partial());
        }
    }

    #[test]
    fn chunked_frames_join_their_chunks_split_anywhere() {
        let stream = b"\n#4\n<rpc\n#3\n/>x\n##\n\r\n\n#2\nab\n##\n";
        for cut in 0..stream.len() {
            let mut decoder = Decoder::new(100);
            decoder.set_framing(Framing::Chunked);
            decoder.feed(&stream[..cut]);
            let mut got = frames(&mut decoder);
            decoder.feed(&stream[cut..]);
            got.extend(frames(&mut decoder));
            assert_eq!(got, [message("<rpc/>x"), message("ab")], "cut at {cut}");
            assert!(!decoder.has_partial());
        }
    }

    #[test]
    fn an_oversize_message_is_reported_once_and_skipped() {
        let mut decoder = Decoder::new(8);
        decoder.feed(b"0123456789abcdef");
        assert_eq!(frames(&mut decoder), [Frame::Oversize]);
        decoder.feed(b"ghijklmnop]]>");
        assert_eq!(frames(&mut decoder), []);
        decoder.feed(b"]]><ok/>]]>]]>");
        assert_eq!(frames(&mut decoder), [message("<ok/>")]);

        let mut decoder = Decoder::new(8);
        decoder.feed(b"0123456789]]>]]><ok/>]]>]]>");
        assert_eq!(frames(&mut decoder), [Frame::Oversize, message("<ok/>")]);

        let mut decoder = Decoder::new(8);
        decoder.set_framing(Framing::Chunked);
        decoder.feed(b"\n#5\n01234\n#5\n56789\n#3\nabc\n##\n\n#2\nok\n##\n");
        assert_eq!(frames(&mut decoder), [Frame::Oversize, message("ok")]);
    }

    #[test]
    fn broken_chunk_headers_are_reported() {
        for bad in [
            &b"#4\nabcd"[..],
            b"\n#0\n",
            b"\n#x\n",
            b"\n#12345678901\n",
            b"\n##x",
        ] {
            let mut decoder = Decoder::new(100);
            decoder.set_framing(Framing::Chunked);
            decoder.feed(bad);
            assert!(
                matches!(frames(&mut decoder)[..], [Frame::Broken(_)]),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn encoded_messages_decode() {
        for framing in [Framing::EndOfMessage, Framing::Chunked] {
            let mut decoder = Decoder::new(100);
            decoder.set_framing(framing);
            decoder.feed(&encode(framing, "<rpc-reply/>"));
            assert_eq!(frames(&mut decoder), [message("<rpc-reply/>")]);
        }
        assert_eq!(encode(Framing::Chunked, "abc"), b"\n#3\nabc\n##\n");
    }
}
