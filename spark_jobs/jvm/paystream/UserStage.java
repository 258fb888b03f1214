package paystream;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import java.sql.Timestamp;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.streaming.MapState;
import org.apache.spark.sql.streaming.OutputMode;
import org.apache.spark.sql.streaming.StatefulProcessor;
import org.apache.spark.sql.streaming.TTLConfig;
import org.apache.spark.sql.streaming.TimeMode;
import org.apache.spark.sql.streaming.TimerValues;
import org.apache.spark.sql.streaming.ValueState;
import scala.jdk.javaapi.CollectionConverters;

/**
 * Stateful stage 1, one key per Kafka partition bucket: lateness, the user rules and profiles.
 *
 * <p>Kafka keeps a user's payments in order in one partition, so a bucket of partitions sees
 * every payment of its users, and lateness is judged per partition exactly as silver judges it
 * (a payment more than the lateness older than the newest earlier payment of its partition is
 * too late: silver quarantines it, no rule sees it). Per user an entry (KeyedRules.Entry, one
 * JSON string in a RocksDB map state keyed by user_id) holds what velocity, card_testing and
 * impossible_travel need, and a daily profile (Behaviour.Profile) gives the user features and
 * amount_vs_profile. The stage emits the user alerts, and forwards to the merchant stage each
 * payment it has a word on: its user features, the user rules it fired, whether it was new
 * for its user (resends and conflicts get no decision). Label records pass straight through.
 * State stays bounded by event time: once per SWEEP_EVERY_MS of event time, entries whose newest
 * payment is more than twice their keep span older than the newest payment seen are removed.
 */
public final class UserStage extends StatefulProcessor<Integer, Row, Row> {
  static final long SWEEP_EVERY_MS = 3_600_000;
  private final String config;
  private transient Map<String, KeyedRules.Rule> rules;
  private transient List<String> userRules;
  private transient boolean merchantRules;
  private transient long latenessMs;
  private transient long userHorizonMs;
  private transient long userKeepMs;
  private transient MapState<Integer, Long> newest;
  private transient ValueState<Long> swept;
  private transient MapState<String, String> users;
  private transient Behaviour.Config behaviour;
  private transient MapState<String, String> profiles;

  /** A user stage for the rules and lateness in the JSON config the Python side writes. */
  public UserStage(String config) {
    this.config = config;
  }

  @Override
  public void init(OutputMode outputMode, TimeMode timeMode) {
    JsonNode root = Stages.readJson(config);
    rules = KeyedRules.parseRules(root.get("rules"));
    latenessMs = root.get("lateness_ms").asLong();
    userRules = KeyedRules.enabled(rules, KeyedRules.family(root, "user_rules"));
    merchantRules = !KeyedRules.enabled(rules, KeyedRules.family(root, "merchant_rules")).isEmpty();
    userHorizonMs = root.get("user_horizon_ms").asLong();
    userKeepMs = userHorizonMs + latenessMs;
    newest = getHandle().getMapState("newest", Encoders.INT(), Encoders.LONG(), TTLConfig.NONE());
    swept = getHandle().getValueState("swept", Encoders.LONG(), TTLConfig.NONE());
    users = getHandle().getMapState("users", Encoders.STRING(), Encoders.STRING(),
        TTLConfig.NONE());
    JsonNode section = root.get("behaviour");
    behaviour = section == null || section.isNull() ? null : Behaviour.Config.parse(section);
    if (behaviour != null) {
      profiles = getHandle().getMapState("profiles", Encoders.STRING(), Encoders.STRING(),
          TTLConfig.NONE());
    }
  }

  @Override
  public scala.collection.Iterator<Row> handleInputRows(Integer key,
      scala.collection.Iterator<Row> input, TimerValues timerValues) {
    List<Row> rows = new ArrayList<>();
    List<Row> out = new ArrayList<>();
    while (input.hasNext()) {
      Row row = input.next();
      if (Stages.LABEL.equals(row.getString(row.fieldIndex("kind")))) {
        out.add(forward(row, false, null, "[]", null));
      } else {
        rows.add(row);
      }
    }
    if (rows.isEmpty()) {
      return CollectionConverters.asScala(out.iterator());
    }
    InputFields f = new InputFields(rows.get(0)::fieldIndex);
    Stages.sortByKafkaOrder(rows, f);
    Map<Integer, Long> newestSeen = new HashMap<>();
    Map<String, KeyedRules.Entry> userEntries = new LinkedHashMap<>();
    Map<String, List<KeyedRules.Payment>> userArrivals = new HashMap<>();
    Map<String, Behaviour.Profile> profileCache = new LinkedHashMap<>();
    List<Forward> forwards = new ArrayList<>();
    boolean keepUsers = !userRules.isEmpty() || behaviour != null;
    for (Row row : rows) {
      int partition = row.getInt(f.partition);
      long ms = row.getLong(f.eventMs);
      Long before = newestSeen.containsKey(partition) ? newestSeen.get(partition)
          : newest.containsKey(partition) ? newest.getValue(partition) : null;
      if (before != null && ms < before - latenessMs) {
        newestSeen.put(partition, before);
        continue;  // too late: silver quarantines it
      }
      newestSeen.put(partition, before == null ? ms : Math.max(before, ms));
      KeyedRules.Payment payment = f.payment(row);
      boolean userNew = false;
      Map<String, Object> features = null;
      if (keepUsers) {
        KeyedRules.Entry entry = userEntries.computeIfAbsent(payment.userId,
            u -> KeyedRules.Entry.decode(users.containsKey(u) ? users.getValue(u) : null));
        userNew = KeyedRules.settle(entry, payment.transactionId, row.getString(f.payloadSha256),
            ms, latenessMs).equals("new");
        if (userNew) {
          userArrivals.computeIfAbsent(payment.userId, u -> new ArrayList<>()).add(payment);
          if (behaviour != null) {
            Behaviour.Profile profile = profileCache.computeIfAbsent(payment.userId,
                u -> Behaviour.Profile.decode(profiles.containsKey(u) ? profiles.getValue(u)
                    : null));
            features = Behaviour.userFeatures(profile, ms, payment.transactionId,
                row.getString(f.merchantCategory), behaviour);
            profile.add(ms, payment.transactionId, payment.amountEur);
          }
        }
      }
      boolean decided = userNew && behaviour != null;
      if (decided || (merchantRules && row.getBoolean(f.elevated))) {
        forwards.add(new Forward(row, payment, userNew, features));
      }
    }
    newestSeen.forEach(newest::updateValue);
    Timestamp now = new Timestamp(System.currentTimeMillis());
    Stages.judgeAll(userEntries, userArrivals, rules, userRules, userHorizonMs, latenessMs,
        users, now, out);
    Map<String, TreeSet<String>> fired = new HashMap<>();
    for (Row alert : out) {
      if (Stages.ALERT.equals(alert.getString(11))) {
        fired.computeIfAbsent(alert.getString(3), t -> new TreeSet<>()).add(alert.getString(1));
      }
    }
    KeyedRules.Rule amountRule = enabledRule("amount_vs_profile");
    List<Row> stageRows = new ArrayList<>();
    for (Row alert : out) {
      stageRows.add(alert.getString(11).equals(Stages.LABEL) ? alert : Stages.widen(alert));
    }
    for (Forward item : forwards) {
      KeyedRules.Payment p = item.payment();
      Double ratio = null;
      String featuresJson = null;
      if (item.features() != null) {
        Map<String, Object> details = amountRule == null ? null
            : Behaviour.amountVsProfile(p.amountEur, item.features(), amountRule);
        if (details != null) {
          stageRows.add(Stages.widen(Stages.alertRow(
              new KeyedRules.Hit("amount_vs_profile", p, details), rules, now)));
          fired.computeIfAbsent(p.transactionId, t -> new TreeSet<>()).add("amount_vs_profile");
        }
        ratio = Behaviour.amountRatio(p.amountEur, item.features(), behaviour);
        featuresJson = Behaviour.featuresJson(item.features());
      }
      ArrayNode names = KeyedRules.JSON.createArrayNode();
      fired.getOrDefault(p.transactionId, new TreeSet<>()).forEach(names::add);
      stageRows.add(forward(item.row(), item.userNew(), featuresJson, names.toString(), ratio));
    }
    profileCache.forEach((k, v) -> profiles.updateValue(k, v.encode()));
    long top = newestSeen.values().stream().mapToLong(Long::longValue).max().orElse(0);
    if (!swept.exists()) {
      swept.update(top);
    } else if (top - swept.get() >= SWEEP_EVERY_MS) {
      Stages.sweepEntries(users, top - 2 * userKeepMs);
      if (behaviour != null) {
        sweepProfiles(Math.floorDiv(top, Behaviour.DAY_MS) - behaviour.historyDays() - 1);
      }
      swept.update(top);
    }
    return CollectionConverters.asScala(stageRows.iterator());
  }

  private KeyedRules.Rule enabledRule(String id) {
    KeyedRules.Rule rule = rules.get(id);
    return rule != null && rule.enabled() ? rule : null;
  }

  /** Remove the profiles with no payment since floorDay. */
  private void sweepProfiles(long floorDay) {
    List<String> stale = new ArrayList<>();
    scala.collection.Iterator<scala.Tuple2<String, String>> items = profiles.iterator();
    while (items.hasNext()) {
      scala.Tuple2<String, String> item = items.next();
      if (Behaviour.Profile.decode(item._2()).newestDay() < floorDay) {
        stale.add(item._1());
      }
    }
    stale.forEach(profiles::removeKey);
  }

  /** An input row (payment or label) as a stage row for the merchant stage. */
  private static Row forward(Row in, boolean userNew, String features, String fired,
                             Double ratio) {
    Object eventMs = in.get(in.fieldIndex("event_ms"));
    Object kafkaMs = in.get(in.fieldIndex("kafka_ms"));
    return RowFactory.create(null, null, null, in.get(in.fieldIndex("transaction_id")),
        in.get(in.fieldIndex("user_id")), in.get(in.fieldIndex("merchant_id")),
        in.get(in.fieldIndex("amount_eur")),
        eventMs == null ? null : new Timestamp((Long) eventMs), null, features,
        kafkaMs == null ? null : new Timestamp((Long) kafkaMs), in.get(in.fieldIndex("kind")),
        null, null, null, fired, ratio,
        in.get(in.fieldIndex("source_partition")), in.get(in.fieldIndex("source_offset")),
        in.get(in.fieldIndex("card_id")), in.get(in.fieldIndex("merchant_category")),
        in.get(in.fieldIndex("channel")), in.get(in.fieldIndex("lat")),
        in.get(in.fieldIndex("lon")), in.get(in.fieldIndex("city")), eventMs, kafkaMs,
        in.get(in.fieldIndex("payload_sha256")), in.get(in.fieldIndex("elevated")),
        in.get(in.fieldIndex("label")), in.get(in.fieldIndex("labelled_ms")), userNew);
  }

  /** A payment the merchant stage gets, with its user features (null when not decided). */
  private record Forward(Row row, KeyedRules.Payment payment, boolean userNew,
                         Map<String, Object> features) {}
}
