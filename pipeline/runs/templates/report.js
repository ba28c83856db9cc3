// Checks, in the browser, that every figure laid out a non-empty SVG with marks in it; records
// any script error on the page itself (a headless test reads both back from the DOM).
(function(){
  var errors=[];
  function report(msg){errors.push(String(msg));
    var el=document.getElementById('render-errors'); if(el){el.textContent=errors.join('\n');}
    document.body.setAttribute('data-rendered','error');}
  window.onerror=function(msg,src,line){report(msg+' ('+src+':'+line+')');};
  window.addEventListener('error',function(e){if(e.target&&e.target!==window){
    report('failed to load '+(e.target.src||e.target.href));}},true);
  function check(){
    try{
      var figs=document.querySelectorAll('figure[data-figure]'), ok=0;
      figs.forEach(function(fig){
        var svg=fig.querySelector('svg'), box=svg?svg.getBoundingClientRect():null;
        var marks=svg?svg.querySelectorAll('polyline,rect,circle').length:0;
        var good=box&&box.width>0&&box.height>0&&marks>0;
        fig.setAttribute('data-rendered',good?'ok':'empty'); if(good){ok++;}
      });
      var roc=document.querySelector('figure[data-figure=roc] svg'),
          data=JSON.parse(document.getElementById('report-data').textContent);
      if(roc&&data.roc.fpr){
        var out=document.getElementById('roc-readout');
        roc.addEventListener('mousemove',function(ev){
          var r=roc.getBoundingClientRect(), vb=roc.viewBox.baseVal;
          var x=(ev.clientX-r.left)*vb.width/r.width, f=(x-44)/(vb.width-56), best=0;
          for(var i=0;i<data.roc.fpr.length;i++){
            if(Math.abs(data.roc.fpr[i]-f)<Math.abs(data.roc.fpr[best]-f)){best=i;}}
          var t=data.roc.thresholds[best];
          out.textContent='threshold '+(t===null?'above every score':t.toFixed(3))+
            ': sensitivity '+data.roc.tpr[best].toFixed(3)+
            ', specificity '+(1-data.roc.fpr[best]).toFixed(3);
        });
      }
      document.body.setAttribute('data-figures-ok',String(ok));
      if(!errors.length){document.body.setAttribute('data-rendered',
        ok===figs.length?'ok':'incomplete');}
    }catch(e){report(e&&e.stack?e.stack:e);}
  }
  if(document.readyState==='loading'){document.addEventListener('DOMContentLoaded',check);}
  else{check();}
})();
