package local.pipeline.connect.s3;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.OptionalLong;
import org.junit.jupiter.api.Test;

class ObjectNamesTest {
  @Test
  void keyIsConfluentsLayoutWithTenDigitStartOffset() {
    assertEquals(
        "topics/alice.pin/partition=2/alice.pin+2+0000001234.json",
        ObjectNames.key("alice.pin", 2, 1234));
  }

  @Test
  void offsetsBeyondTenDigitsAreNotTruncated() {
    assertEquals(
        "topics/t/partition=0/t+0+12345678901.json", ObjectNames.key("t", 0, 12_345_678_901L));
  }

  @Test
  void negativeStartOffsetIsRefused() {
    assertThrows(IllegalArgumentException.class, () -> ObjectNames.key("t", 0, -1));
  }

  @Test
  void startOffsetParsesItsOwnKeys() {
    String key = ObjectNames.key("a.geo", 3, 42);
    assertEquals(OptionalLong.of(42), ObjectNames.startOffset(key, "a.geo", 3));
  }

  @Test
  void startOffsetIgnoresOtherPartitionsTopicsAndForeignKeys() {
    String key = ObjectNames.key("a.geo", 3, 42);
    assertTrue(ObjectNames.startOffset(key, "a.geo", 1).isEmpty());
    assertTrue(ObjectNames.startOffset(key, "a.ge", 3).isEmpty());
    assertTrue(
        ObjectNames.startOffset("topics/a.geo/partition=3/a.geo+3+42.json", "a.geo", 3)
            .isEmpty());
    assertTrue(
        ObjectNames.startOffset("topics/a.geo/partition=3/a.geo+3+0000000042.bin", "a.geo", 3)
            .isEmpty());
  }
}
