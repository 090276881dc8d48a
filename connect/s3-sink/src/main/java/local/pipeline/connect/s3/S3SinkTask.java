package local.pipeline.connect.s3;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.function.Function;
import java.util.function.LongSupplier;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.connect.errors.ConnectException;
import org.apache.kafka.connect.errors.RetriableException;
import org.apache.kafka.connect.sink.ErrantRecordReporter;
import org.apache.kafka.connect.sink.SinkRecord;
import org.apache.kafka.connect.sink.SinkTask;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Buffers each assigned partition, writes sealed objects in offset order, and commits only the
 * offsets whose records are in S3 (or in the dead-letter queue).
 *
 * <p>Exactly-once landing comes from two things, as in Confluent's S3 sink: object names are
 * deterministic (topic, partition, start offset), and on {@link #open} the task looks at S3 for
 * the highest landed offset of each partition and seeks after it, so a restart or a rebalance
 * neither skips nor repeats a record whatever the consumer group had committed.
 */
public class S3SinkTask extends SinkTask {
  private static final Logger log = LoggerFactory.getLogger(S3SinkTask.class);
  /** How long Connect waits before delivering a batch again after a RetriableException. */
  static final long RETRY_MS = 1000;

  private final Function<S3SinkConfig, ObjectStore> storeFactory;
  private final LongSupplier clock;
  private S3SinkConfig config;
  private ObjectStore store;
  private ErrantRecordReporter reporter;
  private final Map<TopicPartition, PartitionBuffer> buffers = new HashMap<>();
  private final Map<TopicPartition, String> buckets = new HashMap<>();
  private final List<Future<Void>> deadLetters = new ArrayList<>();
  /** Assigned partitions whose landed offset is not known yet (S3 did not answer). */
  private final Set<TopicPartition> unresolved = new HashSet<>();
  /**
   * Partitions resolved late (in put, after S3 was down at open) whose seek has not taken
   * effect yet, with the first offset of theirs in the batch that was current then. Connect
   * applies a seek only at its next poll, and may first redeliver that same stale batch; its
   * records must not be taken, or the seek's redelivery of the offsets below them would be
   * rejected as doubles and committed past: never written.
   */
  private final Map<TopicPartition, PendingSeek> pendingSeeks = new HashMap<>();
  private long deadLettered;

  public S3SinkTask() {
    this(AwsObjectStore::new, System::currentTimeMillis);
  }

  S3SinkTask(Function<S3SinkConfig, ObjectStore> storeFactory, LongSupplier clock) {
    this.storeFactory = storeFactory;
    this.clock = clock;
  }

  @Override
  public String version() {
    return S3SinkConnector.VERSION;
  }

  @Override
  public void start(Map<String, String> props) {
    config = new S3SinkConfig(props);
    store = storeFactory.apply(config);
    try {
      reporter = context.errantRecordReporter();
    } catch (NoSuchMethodError | NoClassDefFoundError e) {
      reporter = null; // a worker older than Kafka 2.6: a bad record fails the task
    }
  }

  @Override
  public void open(Collection<TopicPartition> partitions) {
    for (TopicPartition tp : partitions) {
      String bucket;
      try {
        bucket = Buckets.bucketFor(tp.topic(), config.bucket());
      } catch (IllegalArgumentException e) {
        throw new ConnectException(e.getMessage());
      }
      PartitionBuffer buffer =
          new PartitionBuffer(
              tp.topic(),
              tp.partition(),
              config.flushSize(),
              config.rotateIntervalMs(),
              config.rotateScheduleMs());
      buffers.put(tp, buffer);
      buckets.put(tp, bucket);
      unresolved.add(tp);
    }
    try {
      resolve();
    } catch (RetriableException e) {
      // S3 is unreachable: a failed task would need a manual restart, so put() tries again.
      log.warn("{}; retrying before anything of these partitions lands", e.getMessage());
    }
  }

  /**
   * Look at S3 for the highest landed offset of each newly assigned partition and seek after
   * it, so nothing that landed is written again whatever the consumer group had committed.
   */
  private void resolve() {
    resolve(List.of());
  }

  /** As {@link #resolve()}, in a put whose batch (records) predates the seeks it makes. */
  private void resolve(Collection<SinkRecord> records) {
    for (Iterator<TopicPartition> it = unresolved.iterator(); it.hasNext(); ) {
      TopicPartition tp = it.next();
      String bucket = buckets.get(tp);
      OptionalLong landed;
      try {
        landed = store.landedUpTo(bucket, tp.topic(), tp.partition());
      } catch (RuntimeException e) {
        throw new RetriableException(
            "cannot list s3://" + bucket + "/" + ObjectNames.partitionPrefix(tp.topic(), tp.partition())
                + " to resume " + tp + ": check that the bucket exists and that "
                + S3SinkConfig.STORE_URL + " and the credentials are right (" + e.getMessage() + ")",
            e);
      }
      if (landed.isPresent()) {
        buffers.get(tp).resumeAt(landed.getAsLong());
        context.offset(tp, landed.getAsLong());
        long first = firstOffset(records, tp);
        // A batch starting at or below the seek point holds it: taking it is in order.
        if (first > landed.getAsLong()) {
          pendingSeeks.put(tp, new PendingSeek(landed.getAsLong(), first));
        }
        log.info("{}: S3 holds offsets below {}, resuming there", tp, landed.getAsLong());
      }
      it.remove();
    }
  }

  @Override
  public void close(Collection<TopicPartition> partitions) {
    // What is buffered and not in S3 is not committed either: the next owner reads it again.
    for (TopicPartition tp : partitions) {
      buffers.remove(tp);
      buckets.remove(tp);
      unresolved.remove(tp);
      pendingSeeks.remove(tp);
    }
  }

  private record PendingSeek(long to, long staleFirst) {}

  private static long firstOffset(Collection<SinkRecord> records, TopicPartition tp) {
    for (SinkRecord r : records) {
      if (r.topic().equals(tp.topic()) && r.kafkaPartition() == tp.partition()) {
        return r.kafkaOffset();
      }
    }
    return -1;
  }

  /**
   * Whether this put's records of tp come after its pending seek took effect. A delivery
   * starting at the seek point, or anywhere but where the stale batch started (Kafka's log
   * start moved past the seek point: retention), ends the wait; the stale batch is dropped.
   */
  private boolean seekDone(TopicPartition tp, Collection<SinkRecord> records) {
    PendingSeek pending = pendingSeeks.get(tp);
    if (pending == null) {
      return true;
    }
    long first = firstOffset(records, tp);
    if (first == pending.to() || (first >= 0 && first != pending.staleFirst())) {
      if (first != pending.to()) {
        log.warn("{}: seeked to {} but Kafka delivered from {}: offsets {}..{} are no longer in"
            + " Kafka (retention)", tp, pending.to(), first, pending.to(), first - 1);
      }
      pendingSeeks.remove(tp);
      return true;
    }
    return false;
  }

  @Override
  public void put(Collection<SinkRecord> records) {
    long retry = -1;
    if (!unresolved.isEmpty()) {
      // Connect delivers this same batch again after the timeout.
      retry = RETRY_MS;
      context.timeout(RETRY_MS);
      resolve(records);
    }
    // Objects that failed to store last time go first: order within a partition is the contract.
    storeSealed();
    long now = clock.getAsLong();
    Set<TopicPartition> waiting = new HashSet<>();
    for (TopicPartition tp : new ArrayList<>(pendingSeeks.keySet())) {
      if (!seekDone(tp, records)) {
        waiting.add(tp);
      }
    }
    for (SinkRecord record : records) {
      TopicPartition tp = new TopicPartition(record.topic(), record.kafkaPartition());
      PartitionBuffer buffer = buffers.get(tp);
      if (buffer == null) {
        throw new ConnectException("record of " + tp + ", which this task was never assigned");
      }
      if (waiting.contains(tp)) {
        continue; // delivered before the seek: the seek delivers it again, in order
      }
      long offset = record.kafkaOffset();
      if (!buffer.accepts(offset)) {
        continue;
      }
      byte[] line;
      try {
        line = JsonLine.toLine(valueBytes(record.value()));
      } catch (InvalidRecordException e) {
        deadLetter(record, e);
        buffer.deadLettered(offset);
        continue;
      }
      long time =
          config.recordTime() && record.timestamp() != null ? record.timestamp() : now;
      buffer.add(offset, line, time, now);
    }
    for (PartitionBuffer buffer : buffers.values()) {
      buffer.tick(now);
    }
    storeSealed();
    wakeForRotation(now, retry);
  }

  /**
   * Have Connect call put again when the next open object is due to rotate.
   *
   * <p>Connect calls put after each consumer poll, and a poll with no records lasts until the
   * next offset commit (offset.flush.interval.ms): without this, an object whose partition
   * went quiet would rotate that much later than rotate.schedule.interval.ms says. The task
   * context's timeout bounds the next poll (Connect resets it after each poll).
   */
  private void wakeForRotation(long now, long retry) {
    long wake = retry;
    for (PartitionBuffer buffer : buffers.values()) {
      long due = buffer.untilScheduledRotation(now);
      if (due >= 0 && (wake < 0 || due < wake)) {
        wake = due;
      }
    }
    if (wake >= 0) {
      // At least 1 ms: a timeout of 0 means "none" to Connect.
      context.timeout(Math.max(1, wake));
    }
  }

  private static byte[] valueBytes(Object value) throws InvalidRecordException {
    if (value == null || value instanceof byte[]) {
      return (byte[]) value;
    }
    if (value instanceof String s) {
      return s.getBytes(StandardCharsets.UTF_8);
    }
    // A schema'd converter has already parsed the bytes: writing them back would not be
    // byte-identical, so the connector wants the raw value.
    throw new InvalidRecordException(
        "the value arrived as "
            + value.getClass().getSimpleName()
            + ", not bytes: set value.converter=org.apache.kafka.connect.converters.ByteArrayConverter"
            + " on the connector so values land byte-identical");
  }

  private void deadLetter(SinkRecord record, InvalidRecordException e) {
    if (reporter == null) {
      throw new ConnectException(
          "record " + record.topic() + "-" + record.kafkaPartition() + "@" + record.kafkaOffset()
              + " " + e.getMessage() + "; set errors.tolerance=all and "
              + "errors.deadletterqueue.topic.name to send such records to a dead-letter queue");
    }
    deadLettered++;
    log.warn(
        "{}-{}@{} to the dead-letter queue ({} so far): {}",
        record.topic(), record.kafkaPartition(), record.kafkaOffset(), deadLettered, e.getMessage());
    // With errors.tolerance=none this throws, failing the task as Connect documents.
    deadLetters.add(reporter.report(record, e));
  }

  private void storeSealed() {
    for (Map.Entry<TopicPartition, PartitionBuffer> e : buffers.entrySet()) {
      PartitionBuffer buffer = e.getValue();
      String bucket = buckets.get(e.getKey());
      for (Batch batch = buffer.nextSealed(); batch != null; batch = buffer.nextSealed()) {
        OptionalLong existing;
        try {
          existing = store.putIfAbsent(bucket, batch);
        } catch (RuntimeException ex) {
          // Connect pauses, then calls put again; the batch is still first in line.
          context.timeout(RETRY_MS);
          throw new RetriableException(
              "cannot write s3://" + bucket + "/" + batch.key() + ": " + ex.getMessage(), ex);
        }
        if (existing.isEmpty()) {
          buffer.stored(batch);
        } else {
          int dropped = buffer.foundLanded(batch, existing.getAsLong());
          log.warn(
              "s3://{}/{} already exists (another writer, or a late write of ours) up to offset"
                  + " {}: not replacing it, carrying on after it ({} buffered records dropped)",
              bucket, batch.key(), existing.getAsLong() - 1, dropped);
        }
      }
    }
  }

  @Override
  public Map<TopicPartition, OffsetAndMetadata> preCommit(
      Map<TopicPartition, OffsetAndMetadata> currentOffsets) {
    long now = clock.getAsLong();
    for (PartitionBuffer buffer : buffers.values()) {
      buffer.tick(now);
    }
    try {
      storeSealed();
    } catch (RetriableException e) {
      log.warn("commit limited to what is in S3: {}", e.getMessage());
    }
    awaitDeadLetters();
    Map<TopicPartition, OffsetAndMetadata> safe = new HashMap<>();
    for (TopicPartition tp : currentOffsets.keySet()) {
      PartitionBuffer buffer = buffers.get(tp);
      if (buffer != null && !unresolved.contains(tp) && buffer.safeOffset() >= 0) {
        safe.put(tp, new OffsetAndMetadata(buffer.safeOffset()));
      }
    }
    return safe;
  }

  private void awaitDeadLetters() {
    try {
      for (Future<Void> f : deadLetters) {
        f.get();
      }
      deadLetters.clear();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new ConnectException("interrupted waiting for the dead-letter queue", e);
    } catch (ExecutionException e) {
      throw new ConnectException("the dead-letter queue refused a record", e.getCause());
    }
  }

  @Override
  public void stop() {
    if (store != null) {
      store.close();
    }
  }

  long deadLettered() {
    return deadLettered;
  }
}
