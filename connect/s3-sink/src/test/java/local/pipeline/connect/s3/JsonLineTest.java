package local.pipeline.connect.s3;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class JsonLineTest {
  private static byte[] b(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  @Test
  void compactValueIsReturnedByteIdentical() throws Exception {
    byte[] v = b("{\"index\":1,\"title\":\"caf\u00e9 \\u00e9\",\"n\":-1.5e3,\"l\":[true,null,{}]}");
    assertSame(v, JsonLine.toLine(v));
  }

  @Test
  void whitespaceBetweenTokensIsDroppedButNotInsideStrings() throws Exception {
    byte[] v = b(" { \"a b\" : [ 1 ,\n 2 ] ,\t\"c\":\"x \\\" y\" }\r\n");
    assertArrayEquals(b("{\"a b\":[1,2],\"c\":\"x \\\" y\"}"), JsonLine.toLine(v));
  }

  @Test
  void scalarsAreJson() throws Exception {
    assertArrayEquals(b("5"), JsonLine.toLine(b("5")));
    assertArrayEquals(b("\"s\""), JsonLine.toLine(b(" \"s\" ")));
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "",
        "   ",
        "{",
        "{\"a\":1,}",
        "[1 2]",
        "{'a':1}",
        "NaN",
        "01",
        "1.",
        "-",
        "tru",
        "{\"a\":1}x",
        "\"bad \\q escape\"",
        "\"tab\tinside\"",
        "not json at all"
      })
  void invalidJsonIsRefused(String value) {
    assertThrows(InvalidRecordException.class, () -> JsonLine.toLine(b(value)));
  }

  @Test
  void nullValueIsATombstoneNotJson() {
    InvalidRecordException e =
        assertThrows(InvalidRecordException.class, () -> JsonLine.toLine(null));
    assertTrue(e.getMessage().contains("tombstone"));
  }

  @Test
  void invalidUtf8IsRefused() {
    byte[] v = {'"', (byte) 0xff, '"'};
    assertThrows(InvalidRecordException.class, () -> JsonLine.toLine(v));
  }

  @Test
  void tooDeepIsRefused() {
    String deep = "[".repeat(JsonLine.MAX_DEPTH + 2) + "]".repeat(JsonLine.MAX_DEPTH + 2);
    assertThrows(InvalidRecordException.class, () -> JsonLine.toLine(b(deep)));
  }
}
