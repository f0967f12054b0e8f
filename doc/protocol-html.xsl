<?xml version="1.0" encoding="UTF-8"?>
<!--
  The HTML reference of a Wayland protocol XML (protocol/pixcache-v1.xml):
  each interface with its requests, events and enums, each message with
  its arguments, their types, and the versions they appeared in.

  xsltproc -nonet -stringparam version 0.1.0 protocol-html.xsl pixcache-v1.xml

  Every interface, message, argument, enum and entry gets an id, so that
  pages can link to it and tests/protocol-html-check.py can find it:
    IFACE, IFACE-request-NAME, IFACE-event-NAME, IFACE-enum-NAME,
    IFACE-request-NAME-arg-ARG, IFACE-enum-NAME-entry-ENTRY.
-->
<xsl:stylesheet version="1.0"
  xmlns:xsl="http://www.w3.org/1999/XSL/Transform">

  <xsl:output method="html" encoding="UTF-8" indent="yes"/>

  <!-- The project's version, for the page's header. -->
  <xsl:param name="version" select="''"/>

  <xsl:template match="/protocol">
    <xsl:text disable-output-escaping="yes">&lt;!DOCTYPE html&gt;&#10;</xsl:text>
    <html lang="en">
      <head>
        <meta name="viewport" content="width=device-width, initial-scale=1"/>
        <title><xsl:value-of select="@name"/> protocol reference</title>
        <style>
          body { font-family: sans-serif; line-height: 1.45; max-width: 60em;
            margin: 0 auto; padding: 0 1em 3em; color: #1d1d1d; }
          code, pre { font-family: monospace; }
          h1, h2, h3, h4 { line-height: 1.2; }
          h2 { border-bottom: 2px solid #3a6ea5; padding-bottom: .2em;
            margin-top: 2.5em; }
          h3 { margin-top: 1.8em; color: #3a6ea5; }
          h4 { margin: 1.6em 0 .4em; }
          .summary { font-weight: normal; color: #444; }
          .badge { display: inline-block; font-size: .8em; font-weight: normal;
            padding: 0 .5em; border-radius: .8em; background: #e6eef7;
            color: #234; margin-left: .3em; }
          .message, .enum { border-left: 3px solid #d7e3f1; padding-left: 1em; }
          table { border-collapse: collapse; margin: .5em 0 1em; }
          th, td { text-align: left; vertical-align: top; padding: .25em .8em .25em 0;
            border-bottom: 1px solid #e4e4e4; }
          th { font-size: .9em; color: #555; }
          nav ul { padding-left: 1.2em; }
          nav li { margin: .2em 0; }
          .sig { font-weight: normal; }
          pre.copyright { font-size: .85em; white-space: pre-wrap; color: #555; }
        </style>
      </head>
      <body>
        <header>
          <h1>The <code><xsl:value-of select="@name"/></code> protocol</h1>
          <p>
            <xsl:if test="$version != ''">
              <xsl:text>pixcache </xsl:text>
              <xsl:value-of select="$version"/>
              <xsl:text>. </xsl:text>
            </xsl:if>
            <xsl:text>Generated from the protocol's XML, which is the contract: what it says, this page says.</xsl:text>
          </p>
        </header>
        <xsl:apply-templates select="description" mode="block"/>
        <nav>
          <h2>Interfaces</h2>
          <ul>
            <xsl:apply-templates select="interface" mode="toc"/>
          </ul>
        </nav>
        <xsl:apply-templates select="interface"/>
        <xsl:if test="copyright">
          <footer>
            <h2>Copyright</h2>
            <pre class="copyright"><xsl:call-template name="dedent">
                <xsl:with-param name="text" select="copyright"/>
              </xsl:call-template></pre>
          </footer>
        </xsl:if>
      </body>
    </html>
  </xsl:template>

  <!-- ==== the table of contents ==== -->

  <xsl:template match="interface" mode="toc">
    <li>
      <a href="#{@name}"><code><xsl:value-of select="@name"/></code></a>
      <xsl:call-template name="summary-dash"/>
      <xsl:if test="request | event | enum">
        <ul>
          <xsl:call-template name="toc-kind">
            <xsl:with-param name="label" select="'requests'"/>
            <xsl:with-param name="items" select="request"/>
          </xsl:call-template>
          <xsl:call-template name="toc-kind">
            <xsl:with-param name="label" select="'events'"/>
            <xsl:with-param name="items" select="event"/>
          </xsl:call-template>
          <xsl:call-template name="toc-kind">
            <xsl:with-param name="label" select="'enums'"/>
            <xsl:with-param name="items" select="enum"/>
          </xsl:call-template>
        </ul>
      </xsl:if>
    </li>
  </xsl:template>

  <xsl:template name="toc-kind">
    <xsl:param name="label"/>
    <xsl:param name="items"/>
    <xsl:if test="$items">
      <li>
        <xsl:value-of select="$label"/>
        <xsl:text>: </xsl:text>
        <xsl:for-each select="$items">
          <xsl:if test="position() > 1">, </xsl:if>
          <a href="#{../@name}-{local-name()}-{@name}">
            <code><xsl:value-of select="@name"/></code>
          </a>
        </xsl:for-each>
      </li>
    </xsl:if>
  </xsl:template>

  <!-- ==== interfaces ==== -->

  <xsl:template match="interface">
    <section class="interface" id="{@name}">
      <h2>
        <code><xsl:value-of select="@name"/></code>
        <xsl:text> </xsl:text>
        <span class="badge">version <xsl:value-of select="@version"/></span>
        <xsl:call-template name="summary-dash"/>
      </h2>
      <xsl:apply-templates select="description" mode="block"/>
      <xsl:if test="request">
        <h3>Requests</h3>
        <xsl:for-each select="request">
          <xsl:call-template name="message"/>
        </xsl:for-each>
      </xsl:if>
      <xsl:if test="event">
        <h3>Events</h3>
        <xsl:for-each select="event">
          <xsl:call-template name="message"/>
        </xsl:for-each>
      </xsl:if>
      <xsl:if test="enum">
        <h3>Enums</h3>
        <xsl:apply-templates select="enum"/>
      </xsl:if>
    </section>
  </xsl:template>

  <!-- ==== requests and events ==== -->

  <xsl:template name="message">
    <xsl:variable name="id" select="concat(../@name, '-', local-name(), '-', @name)"/>
    <section class="message {local-name()}" id="{$id}">
      <h4>
        <code>
          <xsl:value-of select="../@name"/>
          <xsl:text>.</xsl:text>
          <strong><xsl:value-of select="@name"/></strong>
          <span class="sig">
            <xsl:text>(</xsl:text>
            <xsl:for-each select="arg">
              <xsl:if test="position() > 1">, </xsl:if>
              <xsl:value-of select="@name"/>
            </xsl:for-each>
            <xsl:text>)</xsl:text>
          </span>
        </code>
        <xsl:call-template name="summary-dash"/>
        <xsl:if test="@type = 'destructor'">
          <xsl:text> </xsl:text>
          <span class="badge">destructor</span>
        </xsl:if>
        <xsl:call-template name="since-badges"/>
      </h4>
      <xsl:apply-templates select="description" mode="block"/>
      <xsl:choose>
        <xsl:when test="arg">
          <table class="args">
            <tr><th>argument</th><th>type</th><th>meaning</th></tr>
            <xsl:apply-templates select="arg">
              <xsl:with-param name="message-id" select="$id"/>
            </xsl:apply-templates>
          </table>
        </xsl:when>
        <xsl:otherwise>
          <p class="no-args">No arguments.</p>
        </xsl:otherwise>
      </xsl:choose>
    </section>
  </xsl:template>

  <xsl:template match="arg">
    <xsl:param name="message-id"/>
    <tr class="arg" id="{$message-id}-arg-{@name}">
      <td><code><xsl:value-of select="@name"/></code></td>
      <td class="type">
        <code><xsl:value-of select="@type"/></code>
        <xsl:if test="@interface">
          <xsl:text> of </xsl:text>
          <a href="#{@interface}"><code><xsl:value-of select="@interface"/></code></a>
        </xsl:if>
        <xsl:if test="@enum">
          <xsl:text>, enum </xsl:text>
          <xsl:call-template name="enum-link">
            <xsl:with-param name="ref" select="@enum"/>
          </xsl:call-template>
        </xsl:if>
        <xsl:if test="@allow-null = 'true'">
          <xsl:text>, may be null</xsl:text>
        </xsl:if>
      </td>
      <td><xsl:value-of select="normalize-space(@summary)"/></td>
    </tr>
  </xsl:template>

  <!-- An enum= reference: "name" in the arg's interface, or "iface.name". -->
  <xsl:template name="enum-link">
    <xsl:param name="ref"/>
    <xsl:variable name="iface">
      <xsl:choose>
        <xsl:when test="contains($ref, '.')">
          <xsl:value-of select="substring-before($ref, '.')"/>
        </xsl:when>
        <xsl:otherwise>
          <xsl:value-of select="ancestor::interface/@name"/>
        </xsl:otherwise>
      </xsl:choose>
    </xsl:variable>
    <xsl:variable name="name">
      <xsl:choose>
        <xsl:when test="contains($ref, '.')">
          <xsl:value-of select="substring-after($ref, '.')"/>
        </xsl:when>
        <xsl:otherwise>
          <xsl:value-of select="$ref"/>
        </xsl:otherwise>
      </xsl:choose>
    </xsl:variable>
    <a href="#{$iface}-enum-{$name}">
      <code><xsl:value-of select="$iface"/>.<xsl:value-of select="$name"/></code>
    </a>
  </xsl:template>

  <!-- ==== enums ==== -->

  <xsl:template match="enum">
    <xsl:variable name="id" select="concat(../@name, '-enum-', @name)"/>
    <section class="enum" id="{$id}">
      <h4>
        <code>
          <xsl:value-of select="../@name"/>
          <xsl:text>.</xsl:text>
          <strong><xsl:value-of select="@name"/></strong>
        </code>
        <xsl:call-template name="summary-dash"/>
        <xsl:if test="@bitfield = 'true'">
          <xsl:text> </xsl:text>
          <span class="badge">bitfield</span>
        </xsl:if>
        <xsl:call-template name="since-badges"/>
      </h4>
      <xsl:choose>
        <xsl:when test="description">
          <xsl:apply-templates select="description" mode="block"/>
        </xsl:when>
        <xsl:when test="@name = 'error'">
          <p>The protocol errors of <code><xsl:value-of select="../@name"/></code>:
            a client that causes one is disconnected.</p>
        </xsl:when>
      </xsl:choose>
      <table class="entries">
        <tr><th>entry</th><th>value</th><th>meaning</th></tr>
        <xsl:for-each select="entry">
          <tr class="entry" id="{$id}-entry-{@name}">
            <td><code><xsl:value-of select="@name"/></code></td>
            <td><code><xsl:value-of select="@value"/></code></td>
            <td>
              <xsl:choose>
                <xsl:when test="description/@summary">
                  <xsl:value-of select="normalize-space(description/@summary)"/>
                </xsl:when>
                <xsl:otherwise>
                  <xsl:value-of select="normalize-space(@summary)"/>
                </xsl:otherwise>
              </xsl:choose>
              <xsl:call-template name="since-badges"/>
              <xsl:apply-templates select="description" mode="block"/>
            </td>
          </tr>
        </xsl:for-each>
      </table>
    </section>
  </xsl:template>

  <!-- ==== shared pieces ==== -->

  <!-- " - summary" after a name, from the description or the attribute. -->
  <xsl:template name="summary-dash">
    <xsl:variable name="summary">
      <xsl:choose>
        <xsl:when test="description/@summary">
          <xsl:value-of select="normalize-space(description/@summary)"/>
        </xsl:when>
        <xsl:otherwise>
          <xsl:value-of select="normalize-space(@summary)"/>
        </xsl:otherwise>
      </xsl:choose>
    </xsl:variable>
    <xsl:if test="$summary != ''">
      <span class="summary">
        <xsl:text> — </xsl:text>
        <xsl:value-of select="$summary"/>
      </span>
    </xsl:if>
  </xsl:template>

  <xsl:template name="since-badges">
    <xsl:if test="@since">
      <xsl:text> </xsl:text>
      <span class="badge since">since version <xsl:value-of select="@since"/></span>
    </xsl:if>
    <xsl:if test="@deprecated-since">
      <xsl:text> </xsl:text>
      <span class="badge deprecated">deprecated since version
        <xsl:value-of select="@deprecated-since"/></span>
    </xsl:if>
  </xsl:template>

  <!-- A description's text: paragraphs are separated by blank lines. -->
  <xsl:template match="description" mode="block">
    <xsl:if test="normalize-space(.) != ''">
      <div class="description">
        <xsl:call-template name="paragraphs">
          <xsl:with-param name="text" select="string(.)"/>
        </xsl:call-template>
      </div>
    </xsl:if>
  </xsl:template>

  <!-- One line of text at a time: lines gather into para until a blank one. -->
  <xsl:template name="paragraphs">
    <xsl:param name="text"/>
    <xsl:param name="para" select="''"/>
    <xsl:variable name="line" select="substring-before(concat($text, '&#10;'), '&#10;')"/>
    <xsl:variable name="blank" select="normalize-space($line) = ''"/>
    <xsl:if test="($blank or not(contains($text, '&#10;'))) and normalize-space(concat($para, ' ', $line)) != ''">
      <p><xsl:value-of select="normalize-space(concat($para, ' ', $line))"/></p>
    </xsl:if>
    <xsl:if test="contains($text, '&#10;')">
      <xsl:call-template name="paragraphs">
        <xsl:with-param name="text" select="substring-after($text, '&#10;')"/>
        <xsl:with-param name="para">
          <xsl:if test="not($blank)">
            <xsl:value-of select="concat($para, ' ', $line)"/>
          </xsl:if>
        </xsl:with-param>
      </xsl:call-template>
    </xsl:if>
  </xsl:template>

  <!-- The copyright notice, each line without the XML's indentation. -->
  <xsl:template name="dedent">
    <xsl:param name="text"/>
    <xsl:param name="started" select="false()"/>
    <xsl:variable name="line" select="substring-before(concat($text, '&#10;'), '&#10;')"/>
    <xsl:variable name="rest" select="substring-after($text, '&#10;')"/>
    <xsl:variable name="first" select="substring(normalize-space($line), 1, 1)"/>
    <xsl:variable name="now" select="$started or $first != ''"/>
    <xsl:if test="$first != ''">
      <xsl:value-of select="substring($line, string-length(substring-before($line, $first)) + 1)"/>
    </xsl:if>
    <xsl:if test="contains($text, '&#10;') and normalize-space($rest) != ''">
      <xsl:if test="$now">
        <xsl:text>&#10;</xsl:text>
      </xsl:if>
      <xsl:call-template name="dedent">
        <xsl:with-param name="text" select="$rest"/>
        <xsl:with-param name="started" select="$now"/>
      </xsl:call-template>
    </xsl:if>
  </xsl:template>
</xsl:stylesheet>
