package local.pipeline.connect.s3;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;

/**
 * One partition's buffering and rotation, pure logic (count, time and size rotation).
 *
 * <p>Records arrive in offset order and collect in an open batch that is sealed when it holds
 * {@code flush.size} records (or {@link #MAX_OBJECT_BYTES}), when its first record's time is
 * {@code rotate.interval.ms} behind the arriving record's, when it has been open for
 * {@code rotate.schedule.interval.ms} of wall-clock time, or when the next record cannot join
 * it (an offset gap or a dead-lettered record: an object covers contiguous offsets). Sealed
 * batches wait, in offset order, until the task has stored them.
 */
public final class PartitionBuffer {
  /** Also rotate on size, so one partition cannot buffer without bound between rotations. */
  public static final long MAX_OBJECT_BYTES = 32L * 1024 * 1024;

  private final String topic;
  private final int partition;
  private final int flushSize;
  private final long rotateIntervalMs;
  private final long rotateScheduleMs;

  private final Deque<Batch> sealed = new ArrayDeque<>();
  private final List<byte[]> lines = new ArrayList<>();
  private long start = -1;
  private long bytes;
  private long openedAt;
  private long firstTimestamp;
  private long next = -1;
  private long redelivered;

  public PartitionBuffer(
      String topic, int partition, int flushSize, long rotateIntervalMs, long rotateScheduleMs) {
    if (flushSize < 1) {
      throw new IllegalArgumentException("flush.size must be at least 1, not " + flushSize);
    }
    this.topic = topic;
    this.partition = partition;
    this.flushSize = flushSize;
    this.rotateIntervalMs = rotateIntervalMs;
    this.rotateScheduleMs = rotateScheduleMs;
  }

  /**
   * False for a record below one already taken: taking it again would start an object inside
   * one already sealed, a double (Connect redelivers after a retriable failure or a rewind).
   */
  public boolean accepts(long offset) {
    if (offset < next) {
      redelivered++;
      return false;
    }
    return true;
  }

  public void add(long offset, byte[] line, long timestamp, long now) {
    if (!lines.isEmpty()
        && (offset != start + lines.size()
            || (rotateIntervalMs > 0 && timestamp - firstTimestamp >= rotateIntervalMs))) {
      seal();
    }
    if (lines.isEmpty()) {
      start = offset;
      openedAt = now;
      firstTimestamp = timestamp;
    }
    lines.add(line);
    bytes += line.length + 1;
    next = offset + 1;
    if (lines.size() >= flushSize || bytes >= MAX_OBJECT_BYTES) {
      seal();
    }
  }

  /** The record at offset went to the dead-letter queue: cut the object before it. */
  public void deadLettered(long offset) {
    seal();
    next = offset + 1;
  }

  /** Seal the open batch if it has been open for rotate.schedule.interval.ms. */
  public void tick(long now) {
    if (!lines.isEmpty() && rotateScheduleMs > 0 && now - openedAt >= rotateScheduleMs) {
      seal();
    }
  }

  /**
   * Milliseconds until {@link #tick} would seal the open batch by rotate.schedule.interval.ms
   * (0 when due now), or -1 when nothing is open or no schedule is set.
   */
  public long untilScheduledRotation(long now) {
    if (lines.isEmpty() || rotateScheduleMs <= 0) {
      return -1;
    }
    return Math.max(0, openedAt + rotateScheduleMs - now);
  }

  public void seal() {
    if (!lines.isEmpty()) {
      sealed.add(new Batch(topic, partition, start, lines));
      lines.clear();
      bytes = 0;
    }
  }

  /** The oldest sealed batch not yet stored, or null. */
  public Batch nextSealed() {
    return sealed.peekFirst();
  }

  /** The oldest sealed batch is in S3. */
  public void stored(Batch batch) {
    if (sealed.peekFirst() != batch) {
      throw new IllegalStateException("batches must be stored in offset order");
    }
    sealed.removeFirst();
  }

  /**
   * The oldest sealed batch's key was taken: the object there covers offsets below
   * existingNext (another writer's, or a late write of a task that lost the partition). It is
   * never replaced; what it does not cover lands under a new name, and everything below it is
   * dropped. Returns how many buffered records were dropped.
   */
  public int foundLanded(Batch batch, long existingNext) {
    if (sealed.peekFirst() != batch) {
      throw new IllegalStateException("only the oldest sealed batch is being stored");
    }
    sealed.removeFirst();
    int dropped = 0;
    if (existingNext > batch.startOffset() && existingNext < batch.nextOffset()) {
      sealed.addFirst(batch.fromOffset(existingNext));
      dropped += (int) (existingNext - batch.startOffset());
    } else {
      dropped += batch.lines().size();
    }
    return dropped + skipBelow(existingNext);
  }

  /** Everything below offset is in S3 already: drop it, cutting a batch that straddles it. */
  public int skipBelow(long offset) {
    int dropped = 0;
    Deque<Batch> kept = new ArrayDeque<>();
    for (Batch b : sealed) {
      if (b.nextOffset() <= offset) {
        dropped += b.lines().size();
      } else if (b.startOffset() < offset) {
        dropped += (int) (offset - b.startOffset());
        kept.add(b.fromOffset(offset));
      } else {
        kept.add(b);
      }
    }
    sealed.clear();
    sealed.addAll(kept);
    if (!lines.isEmpty() && start < offset) {
      int cut = (int) Math.min(offset - start, lines.size());
      dropped += cut;
      List<byte[]> rest = new ArrayList<>(lines.subList(cut, lines.size()));
      lines.clear();
      lines.addAll(rest);
      start = offset;
      bytes = 0;
      for (byte[] line : lines) {
        bytes += line.length + 1;
      }
    }
    next = Math.max(next, offset);
    return dropped;
  }

  /** Forget everything buffered: S3 holds everything below offset, resume there. */
  public void resumeAt(long offset) {
    sealed.clear();
    lines.clear();
    bytes = 0;
    next = offset;
  }

  /**
   * The offset to commit: every record below it is in S3 or in the dead-letter queue; -1 when
   * nothing is known yet (commit nothing).
   */
  public long safeOffset() {
    if (!sealed.isEmpty()) {
      return sealed.peekFirst().startOffset();
    }
    if (!lines.isEmpty()) {
      return start;
    }
    return next;
  }

  public int openRecords() {
    return lines.size();
  }

  public int sealedBatches() {
    return sealed.size();
  }

  public long redelivered() {
    return redelivered;
  }
}
