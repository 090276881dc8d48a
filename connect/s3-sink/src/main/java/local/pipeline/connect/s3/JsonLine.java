package local.pipeline.connect.s3;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/**
 * A record value as one compact JSON line, the same bytes services/landing/layout.py reads back:
 * the value is checked to be strict JSON (RFC 8259, UTF-8) and only the whitespace between
 * tokens is dropped; no token is ever re-encoded, so a compact value stays byte-identical.
 */
public final class JsonLine {
  // orjson, which the Python sink validates with, refuses deeper documents too.
  static final int MAX_DEPTH = 1024;

  private final byte[] in;
  private int pos;
  private boolean spaced;

  private JsonLine(byte[] in) {
    this.in = in;
  }

  /** The line without its newline; throws if the value is not one JSON document. */
  public static byte[] toLine(byte[] value) throws InvalidRecordException {
    if (value == null) {
      throw new InvalidRecordException("null value (a tombstone): there is no JSON to write");
    }
    try {
      StandardCharsets.UTF_8
          .newDecoder()
          .onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT)
          .decode(ByteBuffer.wrap(value));
    } catch (CharacterCodingException e) {
      throw new InvalidRecordException("not valid JSON: the value is not UTF-8");
    }
    JsonLine p = new JsonLine(value);
    p.space();
    p.value(0);
    p.space();
    if (p.pos != value.length) {
      throw p.error("unexpected content after the JSON value");
    }
    return p.spaced ? minify(value) : value;
  }

  /** The bytes with the whitespace outside strings removed (the value is known to be valid). */
  static byte[] minify(byte[] value) {
    ByteArrayOutputStream out = new ByteArrayOutputStream(value.length);
    boolean inString = false;
    for (int i = 0; i < value.length; i++) {
      byte b = value[i];
      if (inString) {
        out.write(b);
        if (b == '\\') {
          out.write(value[++i]);
        } else if (b == '"') {
          inString = false;
        }
      } else if (!isSpace(b)) {
        out.write(b);
        inString = b == '"';
      }
    }
    return out.toByteArray();
  }

  private static boolean isSpace(byte b) {
    return b == ' ' || b == '\t' || b == '\n' || b == '\r';
  }

  private InvalidRecordException error(String what) {
    return new InvalidRecordException("not valid JSON: " + what + " at byte " + pos);
  }

  private void space() {
    while (pos < in.length && isSpace(in[pos])) {
      pos++;
      spaced = true;
    }
  }

  private int peek() throws InvalidRecordException {
    if (pos >= in.length) {
      throw error(pos == 0 ? "empty value" : "unexpected end of the value");
    }
    return in[pos];
  }

  private void value(int depth) throws InvalidRecordException {
    if (depth > MAX_DEPTH) {
      throw error("nesting deeper than " + MAX_DEPTH);
    }
    int c = peek();
    switch (c) {
      case '{' -> object(depth);
      case '[' -> array(depth);
      case '"' -> string();
      case 't' -> literal("true");
      case 'f' -> literal("false");
      case 'n' -> literal("null");
      default -> {
        if (c == '-' || (c >= '0' && c <= '9')) {
          number();
        } else {
          throw error("unexpected character '" + (char) c + "'");
        }
      }
    }
  }

  private void object(int depth) throws InvalidRecordException {
    pos++;
    space();
    if (peek() == '}') {
      pos++;
      return;
    }
    while (true) {
      if (peek() != '"') {
        throw error("expected a string key");
      }
      string();
      space();
      if (peek() != ':') {
        throw error("expected ':'");
      }
      pos++;
      space();
      value(depth + 1);
      space();
      int c = peek();
      pos++;
      if (c == '}') {
        return;
      }
      if (c != ',') {
        pos--;
        throw error("expected ',' or '}'");
      }
      space();
    }
  }

  private void array(int depth) throws InvalidRecordException {
    pos++;
    space();
    if (peek() == ']') {
      pos++;
      return;
    }
    while (true) {
      value(depth + 1);
      space();
      int c = peek();
      pos++;
      if (c == ']') {
        return;
      }
      if (c != ',') {
        pos--;
        throw error("expected ',' or ']'");
      }
      space();
    }
  }

  private void string() throws InvalidRecordException {
    pos++;
    while (true) {
      int c = peek() & 0xff;
      pos++;
      if (c == '"') {
        return;
      }
      if (c < 0x20) {
        pos--;
        throw error("control character in a string");
      }
      if (c == '\\') {
        int e = peek();
        pos++;
        if (e == 'u') {
          for (int i = 0; i < 4; i++) {
            int h = peek();
            if (Character.digit(h, 16) < 0) {
              throw error("bad \\u escape");
            }
            pos++;
          }
        } else if ("\"\\/bfnrt".indexOf(e) < 0) {
          pos--;
          throw error("bad escape");
        }
      }
    }
  }

  private void literal(String word) throws InvalidRecordException {
    for (int i = 0; i < word.length(); i++) {
      if (pos >= in.length || in[pos] != word.charAt(i)) {
        throw error("unexpected token");
      }
      pos++;
    }
  }

  private void number() throws InvalidRecordException {
    if (in[pos] == '-') {
      pos++;
    }
    if (peek() == '0') {
      pos++;
    } else {
      digits();
    }
    if (pos < in.length && in[pos] == '.') {
      pos++;
      digits();
    }
    if (pos < in.length && (in[pos] == 'e' || in[pos] == 'E')) {
      pos++;
      if (pos < in.length && (in[pos] == '+' || in[pos] == '-')) {
        pos++;
      }
      digits();
    }
  }

  private void digits() throws InvalidRecordException {
    int start = pos;
    while (pos < in.length && in[pos] >= '0' && in[pos] <= '9') {
      pos++;
    }
    if (pos == start) {
      throw error("expected a digit");
    }
  }
}
