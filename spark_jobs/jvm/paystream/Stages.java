package paystream;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.sql.Timestamp;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import com.fasterxml.jackson.databind.JsonNode;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.streaming.MapState;
import org.apache.spark.unsafe.hash.Murmur3_x86_32;

/**
 * What the two stateful stages share: their row shapes, their keys, the alert row and its id.
 *
 * <p>A stage's grouping key is a bucket (a Kafka partition for the user stage, a hash of the
 * merchant for the merchant stage), spread so that bucket b of n lands in shuffle partition b:
 * Spark places a key in pmod(murmur3(key, 42), n), so each bucket gets the smallest int key
 * that hashes there. The state inside a bucket is keyed by what it is about (a user, a
 * merchant), so results never depend on the spread, only the balance of the tasks does.
 */
final class Stages {
  static final String ALERT = "alert";
  static final String DECISION = "decision";
  static final String PAYMENT = "payment";
  static final String LABEL = "label";
  static final int OUTPUT_WIDTH = 17;
  /** The columns the user stage adds to the output columns for the merchant stage. */
  static final String STAGE_EXTRA = "source_partition int, source_offset long, card_id string, "
      + "merchant_category string, channel string, lat double, lon double, city string, "
      + "event_ms long, kafka_ms long, payload_sha256 string, elevated boolean, label string, "
      + "labelled_ms long, user_new boolean";

  private Stages() {}

  /** For each bucket 0..n-1, an int key Spark's hash partitioning places in that partition. */
  static int[] spreadKeys(int n) {
    int[] keys = new int[n];
    boolean[] found = new boolean[n];
    int left = n;
    for (int k = 0; left > 0; k++) {
      int bucket = Math.floorMod(Murmur3_x86_32.hashInt(k, 42), n);
      if (!found[bucket]) {
        found[bucket] = true;
        keys[bucket] = k;
        left--;
      }
    }
    return keys;
  }

  /** The merchant stage's bucket of a merchant (any stable hash; null goes to bucket 0). */
  static int merchantBucket(String merchantId, int n) {
    return merchantId == null ? 0 : Math.floorMod(merchantId.hashCode(), n);
  }

  /** Rows in Kafka order: by partition, then offset (a user's payments keep their order). */
  static void sortByKafkaOrder(List<Row> rows, InputFields f) {
    rows.sort(Comparator.comparingInt((Row r) -> r.getInt(f.partition))
        .thenComparingLong(r -> r.getLong(f.offset)));
  }

  /** An alert row in the output columns. */
  static Row alertRow(KeyedRules.Hit hit, Map<String, KeyedRules.Rule> rules, Timestamp now) {
    KeyedRules.Payment p = hit.payment();
    return RowFactory.create(alertId(hit.ruleId(), p.transactionId), hit.ruleId(),
        rules.get(hit.ruleId()).severity(), p.transactionId, p.userId, p.merchantId,
        p.amountEur, new Timestamp(p.ms), now, KeyedRules.detailsJson(hit),
        new Timestamp(p.kafkaMs), ALERT, null, null, null, null, null);
  }

  /** An output row (alert or decision) widened to the stage columns, the extras empty. */
  static Row widen(Row output) {
    Object[] values = new Object[OUTPUT_WIDTH + 15];
    for (int i = 0; i < OUTPUT_WIDTH; i++) {
      values[i] = output.get(i);
    }
    return RowFactory.create(values);
  }

  /** A stage row's first OUTPUT_WIDTH columns: the output row it carries. */
  static Row narrow(Row stage) {
    Object[] values = new Object[OUTPUT_WIDTH];
    for (int i = 0; i < OUTPUT_WIDTH; i++) {
      values[i] = stage.get(i);
    }
    return RowFactory.create(values);
  }

  /** The deterministic alert id every sink keys on: sha256("rule_id:transaction_id")[:32]. */
  static String alertId(String ruleId, String transactionId) {
    try {
      byte[] digest = MessageDigest.getInstance("SHA-256")
          .digest((ruleId + ":" + transactionId).getBytes(StandardCharsets.UTF_8));
      return HexFormat.of().formatHex(digest).substring(0, 32);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Remove the keyed-rule entries whose newest payment is older than floorMs. */
  static void sweepEntries(MapState<String, String> store, long floorMs) {
    List<String> stale = new ArrayList<>();
    scala.collection.Iterator<scala.Tuple2<String, String>> items = store.iterator();
    while (items.hasNext()) {
      scala.Tuple2<String, String> item = items.next();
      List<KeyedRules.Payment> payments = KeyedRules.Entry.decode(item._2()).payments;
      if (payments.isEmpty() || payments.get(payments.size() - 1).ms < floorMs) {
        stale.add(item._1());
      }
    }
    stale.forEach(store::removeKey);
  }

  /** Judge each entry's arrivals, append the alerts, forget old ids and store the entry. */
  static void judgeAll(Map<String, KeyedRules.Entry> entries,
      Map<String, List<KeyedRules.Payment>> arrivals, Map<String, KeyedRules.Rule> rules,
      List<String> ids, long horizonMs, long latenessMs, MapState<String, String> store,
      Timestamp now, List<Row> out) {
    for (Map.Entry<String, KeyedRules.Entry> item : entries.entrySet()) {
      KeyedRules.Entry entry = item.getValue();
      List<KeyedRules.Payment> arrived = arrivals.getOrDefault(item.getKey(), List.of());
      for (KeyedRules.Hit hit
          : KeyedRules.judge(entry, arrived, rules, ids, horizonMs, horizonMs + latenessMs)) {
        out.add(alertRow(hit, rules, now));
      }
      KeyedRules.forgetSeen(entry, latenessMs);
      store.updateValue(item.getKey(), entry.encode());
    }
  }

  /** Parsed JSON text: the processor config, a feature object, a list of rule ids. */
  static JsonNode readJson(String config) {
    try {
      return KeyedRules.JSON.readTree(config);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
