# language: ja
# 手順書「Nebula アップデート」: サービスを止め、nebula と nebula-cert を置き換え、
# 起動し、オーバーレイを確認する (Lighthouse への ping、ログ確認)。ここでは
# 停止の前に新しいバイナリで設定をテストし、オーバーレイは ICMP・TCP と起動後の
# ハンドシェイク完了で確認し、ログの新しいエラー行は判断基準の log_errors とする。
@component:nebula
機能: Nebula アップデート
  サービスを止めている間に Nebula ノードのバイナリを置き換える。
  どの手順で失敗しても、下のロールバックがすぐに実行される。

  @id:nebula-update @rollback:nebula-rollback
  シナリオ: Nebula のアップデート実行
    # 事前準備: 1. 現在のバージョン確認 (nebula.exe -version)、2. バックアップ
    前提 Nebula サービスが稼働し、オーバーレイが通信できる
    かつ ホスト証明書の有効期限に十分な余裕がある
    かつ 現在の Nebula のバージョンを記録する
    かつ バイナリ・設定・証明書をチェックサム付きでバックアップする
    # 1. サービス停止 (Stop-Service Nebula)、2. 新しいバイナリを配置、3. サービス起動
    もし 新しいリリースで設定テストが通る
    かつ Nebula サービスを停止する
    かつ 2 つのバイナリをアトミックに置き換える
    かつ Nebula サービスを開始する
    # 4. 動作確認 (ping 10.100.0.1)、5. ログ確認 (Get-Content nebula.log -Tail 50)
    ならば ハンドシェイク完了後、オーバーレイ経由で Lighthouse が ping と TCP に応答する
    かつ 起動以降の Nebula ログに新しいエラー行がない
    かつ Nebula が新しいバージョンを報告する

  @id:nebula-certificate-check
  シナリオ: 証明書の有効期限確認
    ならば ホスト証明書の有効期限に十分な余裕がある

  @rollback-procedure @id:nebula-rollback
  シナリオ: Nebula の問題発生時のロールバック
    # 1. サービス停止、2. バックアップから復元、3. サービス起動、4. 確認 (ping 10.100.0.1)
    もし ロールバックのため Nebula サービスを停止する
    かつ 記録したバックアップからバイナリ・設定・証明書を復元する
    かつ Nebula サービスを再び開始する
    ならば オーバーレイが再び通信できる
