package local.pipeline.connect.s3;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.metrics.PluginMetrics;
import org.apache.kafka.connect.errors.RetriableException;
import org.apache.kafka.connect.sink.ErrantRecordReporter;
import org.apache.kafka.connect.sink.SinkRecord;
import org.apache.kafka.connect.sink.SinkTaskContext;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The task's bookkeeping against an in-memory store and context: what lands, what commits. */
class S3SinkTaskTest {
  private static final TopicPartition TP = new TopicPartition("u1.pin", 0);

  /** Objects by bucket and key; can be told to fail the next puts. */
  static final class MemoryStore implements ObjectStore {
    final Map<String, Map<String, Batch>> buckets = new HashMap<>();
    int failPuts;
    int failLists;

    @Override
    public OptionalLong putIfAbsent(String bucket, Batch batch) {
      if (failPuts > 0) {
        failPuts--;
        throw new IllegalStateException("S3 is down");
      }
      Batch there = buckets.computeIfAbsent(bucket, b -> new HashMap<>()).putIfAbsent(batch.key(), batch);
      return there == null ? OptionalLong.empty() : OptionalLong.of(there.nextOffset());
    }

    @Override
    public OptionalLong landedUpTo(String bucket, String topic, int partition) {
      if (failLists > 0) {
        failLists--;
        throw new IllegalStateException("S3 is down");
      }
      return buckets.getOrDefault(bucket, Map.of()).values().stream()
          .filter(b -> b.topic().equals(topic) && b.partition() == partition)
          .mapToLong(Batch::nextOffset)
          .max();
    }

    @Override
    public void close() {}
  }

  static final class Context implements SinkTaskContext {
    final Map<TopicPartition, Long> seeks = new HashMap<>();
    final List<SinkRecord> deadLetters = new ArrayList<>();
    /** The last timeout the task asked for (-1: none since the test cleared it). */
    long timeout = -1;

    @Override
    public Map<String, String> configs() {
      return Map.of();
    }

    @Override
    public void offset(Map<TopicPartition, Long> offsets) {
      seeks.putAll(offsets);
    }

    @Override
    public void offset(TopicPartition tp, long offset) {
      seeks.put(tp, offset);
    }

    @Override
    public void timeout(long timeoutMs) {
      timeout = timeoutMs;
    }

    @Override
    public Set<TopicPartition> assignment() {
      return Set.of(TP);
    }

    @Override
    public void pause(TopicPartition... partitions) {}

    @Override
    public void resume(TopicPartition... partitions) {}

    @Override
    public void requestCommit() {}

    @Override
    public ErrantRecordReporter errantRecordReporter() {
      return (record, error) -> {
        deadLetters.add(record);
        return CompletableFuture.completedFuture(null);
      };
    }

    @Override
    public PluginMetrics pluginMetrics() {
      return null;
    }
  }

  private final MemoryStore store = new MemoryStore();
  private final Context context = new Context();
  private long now = 1_000;

  private S3SinkTask task(Map<String, String> extra) {
    Map<String, String> props = new HashMap<>(Map.of("flush.size", "3"));
    props.putAll(extra);
    S3SinkTask task = new S3SinkTask(config -> store, () -> now);
    task.initialize(context);
    task.start(props);
    task.open(List.of(TP));
    return task;
  }

  private static SinkRecord record(long offset, String value) {
    byte[] bytes = value == null ? null : value.getBytes(StandardCharsets.UTF_8);
    return new SinkRecord(TP.topic(), TP.partition(), null, null, null, bytes, offset);
  }

  private static List<SinkRecord> records(long from, long to) {
    List<SinkRecord> out = new ArrayList<>();
    for (long o = from; o < to; o++) {
      out.add(record(o, "{\"i\":" + o + "}"));
    }
    return out;
  }

  private long committed(S3SinkTask task) {
    Map<TopicPartition, OffsetAndMetadata> offsets =
        task.preCommit(Map.of(TP, new OffsetAndMetadata(999)));
    return offsets.containsKey(TP) ? offsets.get(TP).offset() : -1;
  }

  @BeforeEach
  void clock() {
    now = 1_000;
  }

  @Test
  void landsInTheNamespacesBucketAndCommitsOnlyWhatLanded() {
    S3SinkTask task = task(Map.of());
    task.put(records(0, 5));
    assertEquals(Set.of("topics/u1.pin/partition=0/u1.pin+0+0000000000.json"),
        store.buckets.get("user-u1-bucket").keySet());
    // Offsets 3 and 4 are buffered, not in S3: the commit stops before them.
    assertEquals(3, committed(task));
  }

  @Test
  void openSeeksAfterTheLastLandedOffsetAndSkipsRedeliveries() {
    store.putIfAbsent("user-u1-bucket", new Batch(TP.topic(), 0, 0, List.of(new byte[] {'1'})));
    store.putIfAbsent("user-u1-bucket", new Batch(TP.topic(), 0, 1, List.of(new byte[] {'2'})));
    S3SinkTask task = task(Map.of());
    assertEquals(Map.of(TP, 2L), context.seeks);
    assertEquals(2, committed(task));
    // A record below the seek (delivered before it took effect) is not landed again.
    task.put(records(1, 5));
    assertEquals(3, store.buckets.get("user-u1-bucket").size());
    assertTrue(store.buckets.get("user-u1-bucket")
        .containsKey("topics/u1.pin/partition=0/u1.pin+0+0000000002.json"));
  }

  @Test
  void aFailedWriteIsRetriableAndRetriedFirstInOrder() {
    S3SinkTask task = task(Map.of());
    store.failPuts = 1;
    assertThrows(RetriableException.class, () -> task.put(records(0, 3)));
    assertTrue(store.buckets.isEmpty());
    // Connect redelivers the same records: they are not taken twice, the sealed batch lands.
    task.put(records(0, 3));
    assertEquals(1, store.buckets.get("user-u1-bucket").size());
    assertEquals(3, committed(task));
  }

  @Test
  void badRecordGoesToTheReporterAndIsCommittedPast() {
    S3SinkTask task = task(Map.of());
    List<SinkRecord> batch = new ArrayList<>(records(0, 2));
    batch.add(record(2, "not json"));
    batch.add(record(3, null));
    batch.addAll(records(4, 7));
    task.put(batch);
    assertEquals(List.of(2L, 3L), context.deadLetters.stream().map(SinkRecord::kafkaOffset).toList());
    // 0-1 sealed by the cut before the bad record, 4-6 by count: nothing left to land.
    assertEquals(Set.of(
            "topics/u1.pin/partition=0/u1.pin+0+0000000000.json",
            "topics/u1.pin/partition=0/u1.pin+0+0000000004.json"),
        store.buckets.get("user-u1-bucket").keySet());
    assertEquals(7, committed(task));
  }

  @Test
  void scheduleRotationLandsAPartialObjectOnCommit() {
    S3SinkTask task = task(Map.of("rotate.schedule.interval.ms", "500", "flush.size", "100"));
    task.put(records(0, 2));
    assertEquals(0, committed(task));
    now += 500;
    assertEquals(2, committed(task));
    assertEquals(Set.of("topics/u1.pin/partition=0/u1.pin+0+0000000000.json"),
        store.buckets.get("user-u1-bucket").keySet());
  }

  @Test
  void anOpenObjectAsksConnectToCallPutWhenItIsDueToRotate() {
    S3SinkTask task = task(Map.of("rotate.schedule.interval.ms", "2000", "flush.size", "100"));
    task.put(records(0, 2));
    assertEquals(2000, context.timeout);
    now += 1500;
    context.timeout = -1;
    task.put(List.of()); // a poll that returned nothing, on time
    assertEquals(500, context.timeout);
    assertTrue(store.buckets.getOrDefault("user-u1-bucket", Map.of()).isEmpty());
    now += 500;
    context.timeout = -1;
    task.put(List.of());
    assertEquals(Set.of("topics/u1.pin/partition=0/u1.pin+0+0000000000.json"),
        store.buckets.get("user-u1-bucket").keySet());
    assertEquals(-1, context.timeout, "nothing open: no wake-up asked for");
  }

  @Test
  void withoutAScheduleOrAnOpenObjectNoWakeUpIsAskedFor() {
    S3SinkTask task = task(Map.of("flush.size", "2"));
    task.put(records(0, 3)); // one object sealed and stored, one record open, no schedule
    assertEquals(-1, context.timeout);
  }

  @Test
  void anExistingObjectIsNeverReplacedAndTheRestLandsAfterIt() {
    S3SinkTask task = task(Map.of("flush.size", "5"));
    // Another writer (a task that took the partition over) stored 0-1 after this task opened.
    Batch other = new Batch(TP.topic(), 0, 0, List.of(new byte[] {'a'}, new byte[] {'b'}));
    store.putIfAbsent("user-u1-bucket", other);
    task.put(records(0, 5));
    Map<String, Batch> objects = store.buckets.get("user-u1-bucket");
    assertEquals(other, objects.get("topics/u1.pin/partition=0/u1.pin+0+0000000000.json"));
    Batch rest = objects.get("topics/u1.pin/partition=0/u1.pin+0+0000000002.json");
    assertEquals(2, rest.startOffset());
    assertEquals(4, rest.endOffset());
    assertEquals(5, committed(task));
  }

  @Test
  void s3DownAtOpenDefersTheResumeToPutInsteadOfFailingTheTask() {
    store.putIfAbsent("user-u1-bucket", new Batch(TP.topic(), 0, 0, List.of(new byte[] {'1'})));
    store.failLists = 2;
    S3SinkTask task = task(Map.of()); // open() meets S3 down: no exception
    assertTrue(context.seeks.isEmpty());
    assertEquals(-1, committed(task), "nothing is committed before the resume point is known");
    assertThrows(RetriableException.class, () -> task.put(records(0, 4)));
    task.put(records(0, 4)); // S3 is back: resumes after offset 0, lands 1-3
    assertEquals(Map.of(TP, 1L), context.seeks);
    assertEquals(2, store.buckets.get("user-u1-bucket").size());
    assertEquals(4, committed(task));
  }

  @Test
  void aLateResumeBelowTheCommittedOffsetWaitsForTheSeekInsteadOfSkipping() {
    // S3 holds 0-1 (landed up to 2); the group had committed 5 (records 2-4 were in a batch
    // that never landed, e.g. a task that committed more than it wrote). S3 is down at open().
    store.putIfAbsent(
        "user-u1-bucket", new Batch(TP.topic(), 0, 0, List.of(new byte[] {'a'}, new byte[] {'b'})));
    store.failLists = 1;
    S3SinkTask task = task(Map.of());
    // The batch after open starts at the committed offset 5; S3 answers now: seek to 2.
    task.put(records(5, 8));
    assertEquals(Map.of(TP, 2L), context.seeks);
    // Connect may redeliver that same stale batch (a retriable failure elsewhere) first.
    task.put(records(5, 8));
    // Then the seek takes effect: 2 onwards, of which nothing may be skipped.
    task.put(records(2, 8));
    List<Long> starts = store.buckets.get("user-u1-bucket").values().stream()
        .map(Batch::startOffset).sorted().toList();
    assertEquals(List.of(0L, 2L, 5L), starts);
    assertEquals(8, committed(task));
  }

  @Test
  void afterALateResumeADeliveryPastTheSeekPointIsTakenAsKafkasNewLogStart() {
    // Retention removed offsets 2-3 from Kafka: the seek to 2 delivers from 4. The task must
    // not wait for 2 forever.
    store.putIfAbsent(
        "user-u1-bucket", new Batch(TP.topic(), 0, 0, List.of(new byte[] {'a'}, new byte[] {'b'})));
    store.failLists = 1;
    S3SinkTask task = task(Map.of());
    task.put(records(5, 8)); // stale: dropped, seek to 2
    task.put(records(4, 10));
    assertEquals(10, committed(task));
    assertTrue(store.buckets.get("user-u1-bucket")
        .containsKey("topics/u1.pin/partition=0/u1.pin+0+0000000004.json"));
  }

  @Test
  void explicitBucketOverridesTheDerivedOne() {
    S3SinkTask task = task(Map.of("s3.bucket.name", "mine"));
    task.put(records(0, 3));
    assertEquals(Set.of("mine"), store.buckets.keySet());
  }
}
