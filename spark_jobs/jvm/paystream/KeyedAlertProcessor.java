package paystream;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.sql.Timestamp;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import com.fasterxml.jackson.databind.node.ArrayNode;
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
 * The transformWithState processor of the stateful query: one key, every valid payment.
 *
 * <p>One key sees every Kafka partition, so lateness is judged per partition exactly as silver
 * judges it (a payment more than the lateness older than the newest earlier payment of its
 * partition is too late: silver quarantines it, no rule sees it). Per user and per merchant an
 * entry (KeyedRules.Entry, one JSON string in a RocksDB map state) holds what the rules need;
 * only elevated tickets touch merchant state. State stays bounded by event time, not by a
 * processing-time TTL (which in 4.2 needs a processing-time mode that runs a batch per trigger
 * even without data): once per SWEEP_EVERY_MS of event time, entries whose newest payment is
 * more than twice their keep span older than the newest payment seen are removed.
 */
public final class KeyedAlertProcessor extends StatefulProcessor<Integer, Row, Row> {
  static final long SWEEP_EVERY_MS = 3_600_000;
  static final String ALERT = "alert";
  static final String DECISION = "decision";
  static final String LABEL = "label";
  private final String config;
  private transient Map<String, KeyedRules.Rule> rules;
  private transient List<String> userRules;
  private transient List<String> merchantRules;
  private transient long latenessMs;
  private transient long userHorizonMs;
  private transient long merchantHorizonMs;
  private transient long userKeepMs;
  private transient long merchantKeepMs;
  private transient MapState<Integer, Long> newest;
  private transient ValueState<Long> swept;
  private transient MapState<String, String> users;
  private transient MapState<String, String> merchants;
  private transient Behaviour.Config behaviour;
  private transient MapState<String, String> profiles;
  private transient MapState<String, String> terminals;

  /** A processor for the rules and lateness in the JSON config the Python side writes. */
  public KeyedAlertProcessor(String config) {
    this.config = config;
  }

  @Override
  public void init(OutputMode outputMode, TimeMode timeMode) {
    JsonNode root;
    try {
      root = KeyedRules.JSON.readTree(config);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    rules = KeyedRules.parseRules(root.get("rules"));
    latenessMs = root.get("lateness_ms").asLong();
    userRules = KeyedRules.enabled(rules, KeyedRules.USER_RULES);
    merchantRules = KeyedRules.enabled(rules, KeyedRules.MERCHANT_RULES);
    userHorizonMs = root.get("user_horizon_ms").asLong();
    merchantHorizonMs = root.get("merchant_horizon_ms").asLong();
    userKeepMs = userHorizonMs + latenessMs;
    merchantKeepMs = merchantHorizonMs + latenessMs;
    newest = getHandle().getMapState("newest", Encoders.INT(), Encoders.LONG(), TTLConfig.NONE());
    swept = getHandle().getValueState("swept", Encoders.LONG(), TTLConfig.NONE());
    users = getHandle().getMapState("users", Encoders.STRING(), Encoders.STRING(),
        TTLConfig.NONE());
    merchants = getHandle().getMapState("merchants", Encoders.STRING(), Encoders.STRING(),
        TTLConfig.NONE());
    JsonNode section = root.get("behaviour");
    behaviour = section == null || section.isNull() ? null : Behaviour.Config.parse(section);
    if (behaviour != null) {
      profiles = getHandle().getMapState("profiles", Encoders.STRING(), Encoders.STRING(),
          TTLConfig.NONE());
      terminals = getHandle().getMapState("terminals", Encoders.STRING(), Encoders.STRING(),
          TTLConfig.NONE());
    }
  }

  @Override
  public scala.collection.Iterator<Row> handleInputRows(Integer key,
      scala.collection.Iterator<Row> input, TimerValues timerValues) {
    List<Row> rows = new ArrayList<>();
    List<Row> labels = new ArrayList<>();
    for (Row row : CollectionConverters.asJava(input.toSeq())) {
      (LABEL.equals(row.getString(row.fieldIndex("kind"))) ? labels : rows).add(row);
    }
    Map<String, Behaviour.Profile> profileCache = new LinkedHashMap<>();
    Map<String, Behaviour.Terminal> terminalCache = new LinkedHashMap<>();
    if (behaviour != null) {
      applyLabels(labels, terminalCache);
    }
    if (rows.isEmpty()) {
      storeBehaviour(profileCache, terminalCache);
      return CollectionConverters.asScala(List.<Row>of().iterator());
    }
    Row first = rows.get(0);
    int partitionAt = first.fieldIndex("source_partition");
    int offsetAt = first.fieldIndex("source_offset");
    rows.sort(Comparator.comparingInt((Row r) -> r.getInt(partitionAt))
        .thenComparingLong(r -> r.getLong(offsetAt)));
    Fields f = new Fields(first);
    Map<Integer, Long> newestSeen = new HashMap<>();
    Map<String, KeyedRules.Entry> userEntries = new LinkedHashMap<>();
    Map<String, KeyedRules.Entry> merchantEntries = new LinkedHashMap<>();
    Map<String, List<KeyedRules.Payment>> userArrivals = new HashMap<>();
    Map<String, List<KeyedRules.Payment>> merchantArrivals = new HashMap<>();
    List<Pending> pending = new ArrayList<>();
    boolean keepUsers = !userRules.isEmpty() || behaviour != null;
    for (Row row : rows) {
      int partition = row.getInt(partitionAt);
      long ms = row.getLong(f.eventMs);
      Long before = newestSeen.containsKey(partition) ? newestSeen.get(partition)
          : newest.containsKey(partition) ? newest.getValue(partition) : null;
      if (before != null && ms < before - latenessMs) {
        newestSeen.put(partition, before);
        continue;  // too late: silver quarantines it
      }
      newestSeen.put(partition, before == null ? ms : Math.max(before, ms));
      String tx = row.getString(f.transactionId);
      String hash = row.getString(f.payloadSha256);
      String user = row.getString(f.userId);
      KeyedRules.Payment payment = new KeyedRules.Payment(ms, tx,
          row.getDecimal(f.amountEur), row.getString(f.merchantId), row.getString(f.channel),
          row.getDouble(f.lat), row.getDouble(f.lon), row.getString(f.city),
          row.getString(f.cardId), user, row.getLong(f.kafkaMs));
      if (keepUsers) {
        KeyedRules.Entry entry = userEntries.computeIfAbsent(user,
            u -> KeyedRules.Entry.decode(users.containsKey(u) ? users.getValue(u) : null));
        if (KeyedRules.settle(entry, tx, hash, ms, latenessMs).equals("new")) {
          userArrivals.computeIfAbsent(user, u -> new ArrayList<>()).add(payment);
          if (behaviour != null) {
            pending.add(profile(payment, row.getString(f.merchantCategory), profileCache,
                terminalCache));
          }
        }
      }
      if (!merchantRules.isEmpty() && row.getBoolean(f.elevated)) {
        String merchant = payment.merchantId;
        KeyedRules.Entry entry = merchantEntries.computeIfAbsent(merchant,
            m -> KeyedRules.Entry.decode(merchants.containsKey(m) ? merchants.getValue(m) : null));
        if (KeyedRules.settle(entry, tx, hash, ms, latenessMs).equals("new")) {
          merchantArrivals.computeIfAbsent(merchant, m -> new ArrayList<>()).add(payment);
        }
      }
    }
    newestSeen.forEach(newest::updateValue);
    Timestamp now = new Timestamp(System.currentTimeMillis());
    List<Row> out = new ArrayList<>();
    judgeAll(userEntries, userArrivals, userRules, userHorizonMs, users, now, out);
    judgeAll(merchantEntries, merchantArrivals, merchantRules, merchantHorizonMs, merchants,
        now, out);
    if (behaviour != null) {
      decideAll(pending, now, out);
      storeBehaviour(profileCache, terminalCache);
    }
    long top = newestSeen.values().stream().mapToLong(Long::longValue).max().orElse(0);
    if (!swept.exists()) {
      swept.update(top);
    } else if (top - swept.get() >= SWEEP_EVERY_MS) {
      sweep(users, top - 2 * userKeepMs);
      sweep(merchants, top - 2 * merchantKeepMs);
      if (behaviour != null) {
        long floorDay = Math.floorDiv(top, Behaviour.DAY_MS) - behaviour.historyDays() - 1;
        sweepBehaviour(floorDay);
      }
      swept.update(top);
    }
    return CollectionConverters.asScala(out.iterator());
  }

  /** A label record: a fraud (or, later, legit) word on a payment at a merchant. */
  private void applyLabels(List<Row> labels, Map<String, Behaviour.Terminal> cache) {
    if (labels.isEmpty()) {
      return;
    }
    Row first = labels.get(0);
    int tx = first.fieldIndex("transaction_id");
    int merchant = first.fieldIndex("merchant_id");
    int eventMs = first.fieldIndex("event_ms");
    int label = first.fieldIndex("label");
    int labelledMs = first.fieldIndex("labelled_ms");
    for (Row row : labels) {
      if (row.isNullAt(tx) || row.isNullAt(merchant) || row.isNullAt(eventMs)
          || row.isNullAt(labelledMs)) {
        continue;
      }
      terminal(row.getString(merchant), cache).label(row.getString(tx),
          "fraud".equals(row.getString(label)), row.getLong(eventMs), row.getLong(labelledMs),
          behaviour.historyDays());
    }
  }

  private Behaviour.Terminal terminal(String merchant, Map<String, Behaviour.Terminal> cache) {
    return cache.computeIfAbsent(merchant, m -> Behaviour.Terminal.decode(
        terminals.containsKey(m) ? terminals.getValue(m) : null));
  }

  /** Read a new payment's features, then count it into its user's and merchant's days. */
  private Pending profile(KeyedRules.Payment p, String mcc,
      Map<String, Behaviour.Profile> profileCache, Map<String, Behaviour.Terminal> terminalCache) {
    Behaviour.Profile user = profileCache.computeIfAbsent(p.userId, u -> Behaviour.Profile.decode(
        profiles.containsKey(u) ? profiles.getValue(u) : null));
    Behaviour.Terminal merchant = terminal(p.merchantId, terminalCache);
    Map<String, Object> features = Behaviour.features(user, merchant, p.ms, p.transactionId,
        mcc, behaviour);
    user.add(p.ms, p.transactionId, p.amountEur);
    merchant.add(p.ms, behaviour.historyDays());
    return new Pending(p, features);
  }

  /** The behavioural alerts and one decision per new payment of the batch. */
  private void decideAll(List<Pending> pending, Timestamp now, List<Row> out) {
    Map<String, TreeSet<String>> fired = new HashMap<>();
    int ruleAt = 1;
    int txAt = 3;
    for (Row alert : out) {
      fired.computeIfAbsent(alert.getString(txAt), t -> new TreeSet<>()).add(alert.getString(ruleAt));
    }
    KeyedRules.Rule amountRule = enabledRule("amount_vs_profile");
    KeyedRules.Rule terminalRule = enabledRule("risky_terminal");
    for (Pending item : pending) {
      KeyedRules.Payment p = item.payment();
      TreeSet<String> rules = fired.computeIfAbsent(p.transactionId, t -> new TreeSet<>());
      if (behaviour.highAmount() != null && p.amountEur.compareTo(behaviour.highAmount()) > 0) {
        rules.add("high_amount");
      }
      Map<String, Object> details = amountRule == null ? null
          : Behaviour.amountVsProfile(p.amountEur, item.features(), amountRule);
      if (details != null) {
        out.add(alertRow(new KeyedRules.Hit("amount_vs_profile", p, details), now));
        rules.add("amount_vs_profile");
      }
      details = terminalRule == null ? null
          : Behaviour.riskyTerminal(item.features(), terminalRule);
      if (details != null) {
        out.add(alertRow(new KeyedRules.Hit("risky_terminal", p, details), now));
        rules.add("risky_terminal");
      }
      Double ratio = Behaviour.amountRatio(p.amountEur, item.features(), behaviour);
      List<Map.Entry<String, Double>> parts = Behaviour.contributions(behaviour, rules, ratio,
          (Double) item.features().get("terminal_fraud_rate"));
      double score = Behaviour.score(parts);
      ArrayNode names = KeyedRules.JSON.createArrayNode();
      rules.forEach(names::add);
      out.add(RowFactory.create(null, null, null, p.transactionId, p.userId, p.merchantId,
          p.amountEur, new Timestamp(p.ms), now, Behaviour.featuresJson(item.features()),
          new Timestamp(p.kafkaMs), DECISION, score, Behaviour.decide(behaviour, score),
          Behaviour.contributionsJson(parts), names.toString(), ratio));
    }
  }

  private KeyedRules.Rule enabledRule(String id) {
    KeyedRules.Rule rule = rules.get(id);
    return rule != null && rule.enabled() ? rule : null;
  }

  private void storeBehaviour(Map<String, Behaviour.Profile> profileCache,
                              Map<String, Behaviour.Terminal> terminalCache) {
    profileCache.forEach((k, v) -> profiles.updateValue(k, v.encode()));
    terminalCache.forEach((k, v) -> terminals.updateValue(k, v.encode()));
  }

  /** Remove the profiles and terminals with no payment since floorDay. */
  private void sweepBehaviour(long floorDay) {
    List<String> stale = new ArrayList<>();
    scala.collection.Iterator<scala.Tuple2<String, String>> items = profiles.iterator();
    while (items.hasNext()) {
      scala.Tuple2<String, String> item = items.next();
      if (Behaviour.Profile.decode(item._2()).newestDay() < floorDay) {
        stale.add(item._1());
      }
    }
    stale.forEach(profiles::removeKey);
    stale.clear();
    items = terminals.iterator();
    while (items.hasNext()) {
      scala.Tuple2<String, String> item = items.next();
      if (Behaviour.Terminal.decode(item._2()).newestDay() < floorDay) {
        stale.add(item._1());
      }
    }
    stale.forEach(terminals::removeKey);
  }

  /** A new payment waiting for its decision, with the features read at arrival. */
  private record Pending(KeyedRules.Payment payment, Map<String, Object> features) {}

  /** Remove the entries whose newest payment is older than floorMs. */
  private static void sweep(MapState<String, String> store, long floorMs) {
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

  private void judgeAll(Map<String, KeyedRules.Entry> entries,
      Map<String, List<KeyedRules.Payment>> arrivals, List<String> ids, long horizonMs,
      MapState<String, String> store, Timestamp now, List<Row> out) {
    for (Map.Entry<String, KeyedRules.Entry> item : entries.entrySet()) {
      KeyedRules.Entry entry = item.getValue();
      List<KeyedRules.Payment> arrived = arrivals.getOrDefault(item.getKey(), List.of());
      for (KeyedRules.Hit hit
          : KeyedRules.judge(entry, arrived, rules, ids, horizonMs, horizonMs + latenessMs)) {
        out.add(alertRow(hit, now));
      }
      KeyedRules.forgetSeen(entry, latenessMs);
      store.updateValue(item.getKey(), entry.encode());
    }
  }

  private Row alertRow(KeyedRules.Hit hit, Timestamp now) {
    KeyedRules.Payment p = hit.payment();
    return RowFactory.create(alertId(hit.ruleId(), p.transactionId), hit.ruleId(),
        rules.get(hit.ruleId()).severity(), p.transactionId, p.userId, p.merchantId,
        p.amountEur, new Timestamp(p.ms), now, KeyedRules.detailsJson(hit),
        new Timestamp(p.kafkaMs), ALERT, null, null, null, null, null);
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

  /** Column positions of the input rows. */
  private static final class Fields {
    final int transactionId;
    final int userId;
    final int cardId;
    final int amountEur;
    final int merchantId;
    final int channel;
    final int lat;
    final int lon;
    final int city;
    final int eventMs;
    final int kafkaMs;
    final int payloadSha256;
    final int elevated;
    final int merchantCategory;

    Fields(Row row) {
      transactionId = row.fieldIndex("transaction_id");
      userId = row.fieldIndex("user_id");
      cardId = row.fieldIndex("card_id");
      amountEur = row.fieldIndex("amount_eur");
      merchantId = row.fieldIndex("merchant_id");
      channel = row.fieldIndex("channel");
      lat = row.fieldIndex("lat");
      lon = row.fieldIndex("lon");
      city = row.fieldIndex("city");
      eventMs = row.fieldIndex("event_ms");
      kafkaMs = row.fieldIndex("kafka_ms");
      payloadSha256 = row.fieldIndex("payload_sha256");
      elevated = row.fieldIndex("elevated");
      merchantCategory = row.fieldIndex("merchant_category");
    }
  }
}
