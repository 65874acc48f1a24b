# language: ja
# 手順書「監視スタックアップデート」: イメージの更新、設定の更新 (検証して
# 再起動なしでリロード)、Grafana ダッシュボード更新、それぞれのロールバック。
# どの手順もメンテナンス用サイレンスの中で行い、最後に必ず解除する。
# イメージ・設定フォルダ・ダッシュボードは計画から読む。
@component:monitoring
機能: 監視スタックアップデート
  podman-compose 上の Prometheus、Alertmanager、Grafana を更新する。
  どの手順で失敗しても、対応するロールバックがすぐに実行される。

  @id:monitoring-images-update @rollback:monitoring-images-rollback
  シナリオ: イメージの更新
    前提 影響するコンポーネントがメンテナンス用サイレンスで覆われている
    かつ 監視の全エンドポイントが準備完了である
    # 1. 現在のイメージを確認 (podman images)
    かつ compose ファイルと設定を、稼働中のイメージとともにバックアップする
    # 2. podman-compose.yml のバージョンを更新、3. 新しいイメージを取得、4. サービスの再起動
    もし compose ファイルのイメージタグを新しいバージョンに更新する
    かつ 新しいイメージを取得する
    かつ サービスを再起動する
    # 5. 動作確認 (podman ps)
    ならば スタックが新しいイメージで稼働している
    かつ メンテナンス用サイレンスを解除する

  @id:monitoring-config-update @rollback:monitoring-config-rollback
  シナリオ: 設定の更新
    前提 影響するコンポーネントがメンテナンス用サイレンスで覆われている
    かつ 監視の全エンドポイントが準備完了である
    # 1. 設定ファイルのバックアップ
    かつ compose ファイルと設定を、稼働中のイメージとともにバックアップする
    # 2. 設定を更新、3. 設定の検証 (promtool / amtool)、4. 設定のリロード (再起動なし)
    もし 新しい設定を配置する
    かつ コンテナ内の promtool と amtool で設定を検証する
    かつ Prometheus と Alertmanager が設定をリロードする
    # 5. 確認
    ならば Prometheus が新しい設定で動作している
    かつ メンテナンス用サイレンスを解除する

  @id:grafana-dashboards-update @rollback:grafana-dashboards-rollback
  シナリオ: Grafana ダッシュボード更新
    前提 影響するコンポーネントがメンテナンス用サイレンスで覆われている
    かつ 監視の全エンドポイントが準備完了である
    # 1. 現在のダッシュボードをバックアップ
    かつ Grafana の全ダッシュボードをマニフェスト付きでエクスポートする
    # 2. 新しいダッシュボードをインポート (POST /api/dashboards/db)
    もし 新しいダッシュボードをインポートする
    ならば Grafana が新しいダッシュボードのバージョンを返す
    かつ メンテナンス用サイレンスを解除する

  @rollback-procedure @id:monitoring-images-rollback
  シナリオ: 問題発生時のロールバック (イメージ)
    # 1. 設定を復元、2. イメージを古いバージョンに戻す、3. サービス再起動
    もし バックアップした compose ファイルと設定を復元する
    かつ スタックを以前のイメージで再び稼働させる
    ならば スタックが更新前とまったく同じである
    かつ メンテナンス用サイレンスを解除する

  @rollback-procedure @id:monitoring-config-rollback
  シナリオ: 問題発生時のロールバック (設定)
    # 1. 設定を復元、リロード
    もし バックアップした compose ファイルと設定を復元する
    かつ 復元した設定を検証してリロードする
    ならば スタックが更新前とまったく同じである
    かつ メンテナンス用サイレンスを解除する

  @rollback-procedure @id:grafana-dashboards-rollback
  シナリオ: 問題発生時のロールバック (Grafana ダッシュボード)
    もし エクスポートしたダッシュボードを再インポートする
    ならば Grafana がエクスポート時のダッシュボードを返す
    かつ メンテナンス用サイレンスを解除する
