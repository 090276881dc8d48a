package local.pipeline.connect.s3;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class PartitionBufferTest {
  private static byte[] line(long i) {
    return ("{\"i\":" + i + "}").getBytes(StandardCharsets.UTF_8);
  }

  private static List<Batch> drain(PartitionBuffer b) {
    List<Batch> out = new ArrayList<>();
    for (Batch batch = b.nextSealed(); batch != null; batch = b.nextSealed()) {
      out.add(batch);
      b.stored(batch);
    }
    return out;
  }

  @Test
  void rotatesByFlushSize() {
    PartitionBuffer b = new PartitionBuffer("t", 0, 3, -1, -1);
    for (long o = 0; o < 7; o++) {
      b.add(o, line(o), 0, 0);
    }
    List<Batch> batches = drain(b);
    assertEquals(2, batches.size());
    assertEquals(0, batches.get(0).startOffset());
    assertEquals(2, batches.get(0).endOffset());
    assertEquals(3, batches.get(1).startOffset());
    assertEquals(1, b.openRecords());
    assertEquals(6, b.safeOffset());
  }

  @Test
  void rotatesByScheduleOnlyOnceTheIntervalHasPassed() {
    PartitionBuffer b = new PartitionBuffer("t", 0, 1000, -1, 2000);
    b.add(5, line(5), 0, 10_000);
    b.tick(11_999);
    assertNull(b.nextSealed());
    b.tick(12_000);
    Batch batch = b.nextSealed();
    assertEquals(5, batch.startOffset());
    assertEquals(5, batch.endOffset());
  }

  @Test
  void rotatesByRecordTimeWhenAnArrivingRecordIsIntervalPastTheFirst() {
    PartitionBuffer b = new PartitionBuffer("t", 0, 1000, 1000, -1);
    b.add(0, line(0), 100, 0);
    b.add(1, line(1), 1099, 0);
    assertNull(b.nextSealed());
    b.add(2, line(2), 1100, 0);
    List<Batch> batches = drain(b);
    assertEquals(1, batches.size());
    assertEquals(1, batches.get(0).endOffset());
    assertEquals(1, b.openRecords());
  }

  @Test
  void offsetGapStartsANewObject() {
    PartitionBuffer b = new PartitionBuffer("t", 0, 1000, -1, -1);
    b.add(0, line(0), 0, 0);
    b.add(5, line(5), 0, 0);
    b.seal();
    List<Batch> batches = drain(b);
    assertEquals(0, batches.get(0).startOffset());
    assertEquals(0, batches.get(0).endOffset());
    assertEquals(5, batches.get(1).startOffset());
  }

  @Test
  void deadLetteredRecordCutsTheObjectAndIsCommittedPast() {
    PartitionBuffer b = new PartitionBuffer("t", 0, 1000, -1, -1);
    b.add(0, line(0), 0, 0);
    b.add(1, line(1), 0, 0);
    b.deadLettered(2);
    b.add(3, line(3), 0, 0);
    assertEquals(0, b.safeOffset());
    List<Batch> batches = drain(b);
    assertEquals(1, batches.size());
    assertEquals(1, batches.get(0).endOffset());
    assertEquals(3, b.safeOffset());
    b.seal();
    drain(b);
    assertEquals(4, b.safeOffset());
  }

  @Test
  void redeliveredRecordsAreRefusedAndCounted() {
    PartitionBuffer b = new PartitionBuffer("t", 0, 2, -1, -1);
    b.add(0, line(0), 0, 0);
    b.add(1, line(1), 0, 0);
    assertFalse(b.accepts(1));
    assertTrue(b.accepts(2));
    assertEquals(1, b.redelivered());
  }

  @Test
  void resumeAtForgetsTheBufferAndCommitsFromThere() {
    PartitionBuffer b = new PartitionBuffer("t", 0, 10, -1, -1);
    assertEquals(-1, b.safeOffset());
    b.add(0, line(0), 0, 0);
    b.resumeAt(40);
    assertEquals(40, b.safeOffset());
    assertFalse(b.accepts(39));
    assertEquals(0, b.openRecords());
  }

  @Test
  void batchesMustBeStoredInOrder() {
    PartitionBuffer b = new PartitionBuffer("t", 0, 1, -1, -1);
    b.add(0, line(0), 0, 0);
    b.add(1, line(1), 0, 0);
    Batch first = b.nextSealed();
    b.stored(first);
    Batch stale = first;
    assertThrows(IllegalStateException.class, () -> b.stored(stale));
  }

  @Test
  void bodyIsOneLinePerRecordEachEndingInNewline() {
    Batch batch = new Batch("t", 0, 7, List.of(line(7), line(8)));
    assertArrayEquals("{\"i\":7}\n{\"i\":8}\n".getBytes(StandardCharsets.UTF_8), batch.body());
    assertEquals(2, Batch.countLines(batch.body()));
    assertEquals(2, Batch.countLines("a\nb".getBytes(StandardCharsets.UTF_8)));
    assertEquals(0, Batch.countLines(new byte[0]));
    assertEquals("topics/t/partition=0/t+0+0000000007.json", batch.key());
  }

  @Test
  void foundLandedCutsTheBatchAtTheExistingObjectsEnd() {
    PartitionBuffer b = new PartitionBuffer("t", 0, 4, -1, -1);
    for (long o = 0; o < 10; o++) {
      b.add(o, line(o), 0, 0);
    }
    // Sealed 0-3 and 4-7, open 8-9; the key of 0-3 holds 0-5 (another writer's rotation).
    assertEquals(6, b.foundLanded(b.nextSealed(), 6));
    List<Batch> batches = drain(b);
    assertEquals(6, batches.get(0).startOffset());
    assertEquals(7, batches.get(0).endOffset());
    assertEquals(1, batches.size());
    assertEquals(8, b.safeOffset());
  }

  @Test
  void foundLandedBeyondEverythingBufferedDropsItAll() {
    PartitionBuffer b = new PartitionBuffer("t", 0, 2, -1, -1);
    for (long o = 0; o < 5; o++) {
      b.add(o, line(o), 0, 0);
    }
    assertEquals(5, b.foundLanded(b.nextSealed(), 20));
    assertNull(b.nextSealed());
    assertEquals(0, b.openRecords());
    assertEquals(20, b.safeOffset());
    assertFalse(b.accepts(19));
  }

  @Test
  void skipBelowCutsTheOpenBatch() {
    PartitionBuffer b = new PartitionBuffer("t", 0, 100, -1, -1);
    for (long o = 0; o < 5; o++) {
      b.add(o, line(o), 0, 0);
    }
    assertEquals(3, b.skipBelow(3));
    b.seal();
    Batch batch = b.nextSealed();
    assertEquals(3, batch.startOffset());
    assertArrayEquals(line(3), batch.lines().get(0));
  }

  @Test
  void flushSizeBelowOneIsRefused() {
    assertThrows(IllegalArgumentException.class, () -> new PartitionBuffer("t", 0, 0, -1, -1));
  }
}
